"""Checks and normalisation of what readers type: uris, names, addresses, bodies."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit, urlunsplit

from voxpop.errors import ValidationFailed

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")


def _clean_line(value: str) -> str:
    return _CONTROL.sub("", unicodedata.normalize("NFC", value)).replace("\n", " ").strip()


def clean_text(value: str) -> str:
    """One line of free text (a note, a reason): normalised, no control characters."""
    return _clean_line(value)


def uri(value: str) -> str:
    """The normalised article path: from a path or a full URL, no fragment, one leading /."""
    value = value.strip()
    if not value or len(value) > 1024 or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise ValidationFailed("uri must be a page path such as /2026/11/story", field="uri")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[::1": an unclosed IPv6 host
        raise ValidationFailed("uri must be a path or an http(s) URL", field="uri") from None
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise ValidationFailed("uri must be a path or an http(s) URL", field="uri")
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if not path.startswith("/"):
        path = "/" + path
    return urlunsplit(("", "", path, parts.query, ""))


def clean_body(value: str) -> str:
    """A comment's text normalised (NFC, LF line ends, no control characters), unchecked."""
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def body(value: str, max_chars: int) -> str:
    text = clean_body(value)
    if not text:
        raise ValidationFailed("The comment is empty; write something first", field="body")
    if len(text) > max_chars:
        raise ValidationFailed(
            f"The comment is longer than {max_chars} characters; shorten it", field="body"
        )
    return text


def name(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = _clean_line(value)
    if len(cleaned) > 80:
        raise ValidationFailed("The name is longer than 80 characters", field="author_name")
    return cleaned or None


def email(value: str | None, field: str = "author_email") -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise ValidationFailed("The e-mail address is not valid", field=field)
    return cleaned


def mailable(address: str, field: str) -> str:
    """An address we can send to: the SMTP we speak has no SMTPUTF8, so ASCII only."""
    if not address.isascii():
        raise ValidationFailed("Notifications need an address in plain ASCII letters", field=field)
    return address


def website(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if "://" not in cleaned and not cleaned.lower().startswith(("javascript:", "data:")):
        cleaned = "https://" + cleaned
    parts = urlsplit(cleaned)
    if (
        len(cleaned) > 500
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "." not in parts.hostname
        or _CONTROL.search(cleaned)
        or any(c.isspace() or c in "\"'<>`" for c in cleaned)
    ):
        raise ValidationFailed(
            "The website must be an http or https address such as https://example.org",
            field="author_website",
        )
    return cleaned


def title(value: str | None) -> str:
    if value is None:
        return ""
    cleaned = _clean_line(value)
    return cleaned[:300]
