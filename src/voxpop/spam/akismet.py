"""An optional Akismet client, standard library only, that fails open.

Akismet's REST API (version 1.1, https://akismet.com/developers/), as used here. Every call
is a form-encoded POST (``application/x-www-form-urlencoded``, UTF-8) to the endpoint,
``https://rest.akismet.com`` by default:

    /1.1/verify-key     api_key, blog                 -> "valid" | "invalid"
    /1.1/comment-check  api_key, blog, user_ip, ...   -> "true" (spam) | "false" (ham);
                        anything else ("invalid", an error text) is an error, explained
                        in the X-akismet-debug-help header. On "true" the header
                        X-akismet-pro-tip: discard marks blatant spam.
    /1.1/submit-spam    the same fields               -> "Thanks for making the web a
    /1.1/submit-ham                                      better place."

Fields sent (the comment-check parameters): ``blog`` (the site's front page URL, required),
``user_ip`` (required), ``user_agent``, ``referrer``, ``permalink`` (the article's URL),
``comment_type`` ("comment"; also "reply", "forum-post", "contact-form", "signup"),
``comment_author``, ``comment_author_email``, ``comment_author_url``,
``comment_content``, ``comment_date_gmt`` (ISO 8601), ``blog_lang`` ("en", "fr_ca"),
``blog_charset`` ("UTF-8"), ``user_role`` ("administrator" is never spam),
``honeypot_field_name`` with the field's value under that name, ``recheck_reason``
(when re-checking, e.g. "edit"), and ``is_test`` ("1": a test call that does not train
Akismet). Empty optional fields are left out.

Failing open: ``check`` answers None when Akismet could not give an answer (HTTP error,
timeout, network error, an unexpected body such as "invalid" for a bad key) and logs a
warning; the caller then decides without Akismet. ``submit_spam``/``submit_ham`` answer
False in those cases. No call takes longer than about ``timeout`` seconds per network
operation (connect, each read).
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Final

log = logging.getLogger("voxpop.spam.akismet")

DEFAULT_ENDPOINT: Final = "https://rest.akismet.com"
DEFAULT_TIMEOUT: Final = 3.0
USER_AGENT: Final = "voxpop | voxpop-akismet/1"
THANKS: Final = "Thanks for making the web a better place."
# Akismet answers a few words; anything longer is cut (a misbehaving proxy's HTML page).
MAX_RESPONSE_BYTES: Final = 4096
# Akismet limits nothing explicitly; this keeps one request bounded.
MAX_CONTENT_CHARS: Final = 65_536


@dataclass(frozen=True, slots=True)
class AkismetComment:
    """One comment as Akismet wants to see it. ``user_ip`` is the commenter's address."""

    user_ip: str
    user_agent: str = ""
    referrer: str = ""
    permalink: str = ""
    comment_type: str = "comment"
    comment_author: str = ""
    comment_author_email: str = ""
    comment_author_url: str = ""
    comment_content: str = ""
    comment_date_gmt: str = ""
    blog_lang: str = ""
    blog_charset: str = "UTF-8"
    user_role: str = ""
    honeypot_field_name: str = ""
    honeypot_value: str = ""
    recheck_reason: str = ""
    is_test: bool = False

    def fields(self) -> dict[str, str]:
        """The form fields for this comment (without api_key and blog); empty ones left out."""
        out = {
            "user_ip": self.user_ip,
            "user_agent": self.user_agent,
            "referrer": self.referrer,
            "permalink": self.permalink,
            "comment_type": self.comment_type,
            "comment_author": self.comment_author,
            "comment_author_email": self.comment_author_email,
            "comment_author_url": self.comment_author_url,
            "comment_content": self.comment_content[:MAX_CONTENT_CHARS],
            "comment_date_gmt": self.comment_date_gmt,
            "blog_lang": self.blog_lang,
            "blog_charset": self.blog_charset,
            "user_role": self.user_role,
            "recheck_reason": self.recheck_reason,
        }
        if self.honeypot_field_name:
            out["honeypot_field_name"] = self.honeypot_field_name
            out.setdefault(self.honeypot_field_name, self.honeypot_value)
        if self.is_test:
            out["is_test"] = "1"
        return {k: v for k, v in out.items() if v}


class Akismet:
    """A client for one Akismet API key and one site (``blog_url``, its front page).

    ``endpoint``: Akismet's base URL (http or https), configurable so that tests can point
    it at a local fake. ``timeout``: seconds per network operation.
    """

    def __init__(
        self,
        key: str,
        blog_url: str,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        scheme = urllib.parse.urlsplit(endpoint).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"Akismet endpoint must be an http(s) URL, not {endpoint!r}")
        if not key:
            raise ValueError("an Akismet API key is required")
        self.key = key
        self.blog_url = blog_url
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout

    def _post(self, path: str, fields: dict[str, str]) -> tuple[int, str, str] | None:
        """POST the form; (status, body, X-akismet-debug-help) or None on failure (logged)."""
        data = urllib.parse.urlencode(
            {"api_key": self.key, "blog": self.blog_url, **fields}, encoding="utf-8"
        ).encode("ascii")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.endpoint + path,
            data=data,
            method="POST",
            headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                "User-Agent": USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read(MAX_RESPONSE_BYTES).decode("utf-8", "replace").strip()
                return response.status, body, response.headers.get("X-akismet-debug-help", "")
        except urllib.error.HTTPError as exc:
            log.warning("akismet %s: HTTP %s", path, exc.code)
            exc.close()
        except OSError as exc:  # URLError, timeouts, refused or reset connections
            log.warning("akismet %s: %s", path, getattr(exc, "reason", exc))
        except http.client.HTTPException as exc:
            log.warning("akismet %s: bad HTTP response: %r", path, exc)
        return None

    def verify_key(self) -> bool | None:
        """Whether Akismet accepts the key for this site; None when it could not say."""
        answer = self._post("/1.1/verify-key", {})
        if answer is None:
            return None
        body = answer[1]
        if body == "valid":
            return True
        if body == "invalid":
            return False
        log.warning("akismet verify-key: unexpected answer %.100r", body)
        return None

    def check(self, comment: AkismetComment) -> bool | None:
        """True: spam; False: ham; None: no answer (error, timeout, unexpected body), logged."""
        answer = self._post("/1.1/comment-check", comment.fields())
        if answer is None:
            return None
        status, body, debug = answer
        if body == "true":
            return True
        if body == "false":
            return False
        log.warning(
            "akismet comment-check: unexpected answer %.100r (HTTP %s) %s", body, status, debug
        )
        return None

    def _submit(self, path: str, comment: AkismetComment) -> bool:
        answer = self._post(path, comment.fields())
        if answer is None:
            return False
        if answer[1] == THANKS:
            return True
        log.warning("akismet %s: unexpected answer %.100r %s", path, answer[1], answer[2])
        return False

    def submit_spam(self, comment: AkismetComment) -> bool:
        """Tell Akismet this comment is spam it missed. True when Akismet took it."""
        return self._submit("/1.1/submit-spam", comment)

    def submit_ham(self, comment: AkismetComment) -> bool:
        """Tell Akismet this comment is not spam (a false positive). True when it took it."""
        return self._submit("/1.1/submit-ham", comment)
