"""A rendered notification as the bytes an SMTP client sends.

The stdlib ``email`` package builds a multipart/alternative message (text, then HTML) with
CRLF line ends (``email.policy.SMTP``). What matters on the wire:

* Both bodies are UTF-8 in quoted-printable: 7bit-clean, so no relay without 8BITMIME has
  to convert them, and still legible raw. Quoted-printable never contains "=_", so the
  fixed boundary below cannot be forged by anything a reader writes.
* Headers are folded here, not by the stdlib, whose (3.11) folding loses the space next
  to an encoded word where it breaks a line (in a subject or display name) and turns a long
  ``List-Unsubscribe`` URL into encoded words no client decodes there. Plain ASCII text
  folds at spaces; anything else becomes UTF-8 encoded words, split between characters.
* No header can be injected: subject and sender name are collapsed to one line and taken
  literally (an article title may contain anything, even text that looks like an encoded
  line break), and addresses, ids and URLs, which come from configuration and code, raise
  ``ValueError`` on a control character or non-ASCII (no SMTPUTF8).
* ``build`` runs once per recipient, and the stdlib's header parsing and folding is most of
  its cost: recurring headers (constants, sender, subject, thread) are parsed and folded
  once.

Every notification of an article names one synthetic root message (``thread_id``) in
``References``, so mail clients thread an article's notifications together.
"""

from __future__ import annotations

import binascii
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email.charset import Charset
from email.errors import HeaderParseError
from email.headerregistry import (
    Address,
    AddressHeader,
    BaseHeader,
    HeaderRegistry,
    UnstructuredHeader,
)
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from itertools import repeat
from typing import Any

from .render import Rendered, one_line

# "=_" never occurs in quoted-printable text (every "=" there starts an escape), so no body
# line can ever equal the boundary delimiter, however the body was crafted.
BOUNDARY = "=_voxpop_alternative"

# Encoded words are at most 75 characters (RFC 2047); 66 leaves room for "Subject: ".
_WORD = 66
_UTF8 = Charset("utf-8")


def _plain(text: str) -> bool:
    """Whether text can go into a header as it is (nothing to encode)."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _words(text: str) -> list[str]:
    """Text as header words: split at spaces when plain, else RFC 2047 encoded words,
    split between characters (a space stays inside its word, so no decoder drops it)."""
    if _plain(text):
        return text.split(" ")
    return [word for word in _UTF8.header_encode_lines(text, repeat(_WORD)) if word]


def _mailboxes(addresses: tuple[Address, ...]) -> list[str]:
    """An address list as header words: a plain display name quoted as needed, any other
    encoded."""
    words: list[str] = []
    for address in addresses:
        if words:
            words[-1] += ","
        name = address.display_name
        if not name:
            words.append(address.addr_spec)
        elif _plain(name):
            words += formataddr((name, address.addr_spec)).split(" ")
        else:
            words += [*_words(name), f"<{address.addr_spec}>"]
    return words


class _Text(UnstructuredHeader, BaseHeader):
    """Unstructured text taken as given: the stdlib would decode anything in it that looks
    like an encoded word, which an article title may contain (even a line break)."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        super().parse(value, kwds)
        kwds["decoded"] = value


class _Registry(HeaderRegistry):
    """The stdlib registry creates a new header class on every lookup; create each once."""

    def __init__(self) -> None:
        super().__init__()
        for name in ("subject", "list-unsubscribe", "list-id", "references", "in-reply-to"):
            self.map_to_type(name, _Text)
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(key)
        return cls


class _Policy(EmailPolicy):
    """``email.policy.SMTP`` (7bit) with this module's header folding: a header that fits
    on one line of plain text is written as it is, any other folded by ``_fold``, once per
    distinct value (a site's sender name and a comment's subject recur for every recipient).
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        line = f"{name}: {value}"
        if len(line) <= (self.max_line_length or sys.maxsize) and _plain(line):
            return f"{line}{self.linesep}".encode("ascii")
        return _fold(name, value)


@lru_cache(maxsize=1024)
def _fold(name: str, value: str) -> bytes:
    words = _mailboxes(value.addresses) if isinstance(value, AddressHeader) else _words(value)
    limit = _POLICY.max_line_length or sys.maxsize
    lines = [f"{name}:"]
    for i, word in enumerate(words):
        if i and len(lines[-1]) + 1 + len(word) > limit:
            lines.append("")
        lines[-1] += f" {word}"
    return (_POLICY.linesep.join(lines) + _POLICY.linesep).encode("ascii")


_registry = _Registry()
_POLICY = _Policy(linesep="\r\n", cte_type="7bit", header_factory=_registry)


def message_id(kind: str, row_id: int, domain: str) -> str:
    """The stable Message-ID of a sent mail, so a retry is recognisably the same message."""
    return f"<voxpop.{kind}.{row_id}@{domain}>"


def thread_id(article_id: int, domain: str) -> str:
    """The synthetic root Message-ID all of an article's notifications refer to."""
    return f"<voxpop.article.{article_id}@{domain}>"


def domain_of(address: str) -> str:
    """The domain part of an e-mail address, lower-cased; "localhost" if it has none."""
    _, at, domain = parseaddr(address)[1].rpartition("@")
    return domain.lower() if at and domain else "localhost"


def _ascii(value: str, what: str) -> str:
    if not value or not value.isascii() or not value.isprintable():
        raise ValueError(f"{what} must be non-empty printable ASCII: {value!r}")
    return value


@lru_cache(maxsize=1024)
def _header(name: str, value: str) -> BaseHeader:
    """A parsed header whose value recurs across messages (a constant, an article's
    subject or thread, the second a batch is sent in), parsed once."""
    return _registry(name, value)


@lru_cache(maxsize=256)
def _address(what: str, addr_spec: str, display_name: str = "") -> BaseHeader:
    """The parsed From or To header. Cached: parsing is most of a message's cost, and a
    site sends every mail from the same sender."""
    try:
        address = Address(display_name=one_line(display_name), addr_spec=_ascii(addr_spec, what))
    except (ValueError, IndexError, HeaderParseError) as e:
        raise ValueError(f"invalid {what} address: {addr_spec!r}") from e
    return _registry(what, address)


def build(
    *,
    rendered: Rendered,
    sender: str,
    sender_name: str,
    to: str,
    message_id: str,
    unsubscribe_url: str | None,
    references: Sequence[str] = (),
    list_id: str | None = None,
    lang: str = "en",
    date: datetime | None = None,
) -> bytes:
    """The wire bytes (CRLF) of one notification: multipart/alternative, text then HTML.

    ``unsubscribe_url`` adds RFC 8058 one-click unsubscribe headers; ``references`` (oldest
    first) threads the message under them; ``date`` must be timezone-aware (default: now).
    """
    if date is None:
        date = datetime.now(UTC)
    elif date.utcoffset() is None:
        raise ValueError("date must be timezone-aware")
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _address("From", sender, sender_name)
    msg["To"] = _address("To", to)
    msg["Subject"] = _header("Subject", one_line(rendered.subject))
    msg["Date"] = _header("Date", format_datetime(date))
    msg["Message-ID"] = _ascii(message_id, "Message-ID")
    if references:
        msg["In-Reply-To"] = _header("In-Reply-To", _ascii(references[-1], "In-Reply-To"))
        refs = " ".join(_ascii(ref, "References") for ref in references)
        msg["References"] = _header("References", refs)
    if list_id is not None:
        msg["List-Id"] = _header("List-Id", _ascii(list_id, "List-Id"))
    if unsubscribe_url is not None:
        msg["List-Unsubscribe"] = f"<{_ascii(unsubscribe_url, 'List-Unsubscribe')}>"
        msg["List-Unsubscribe-Post"] = _header(
            "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"
        )
    msg["Auto-Submitted"] = _header("Auto-Submitted", "auto-generated")
    msg["Content-Language"] = _header("Content-Language", _ascii(lang, "Content-Language"))
    msg["MIME-Version"] = _header("MIME-Version", "1.0")
    msg["Content-Type"] = _header("Content-Type", f'multipart/alternative; boundary="{BOUNDARY}"')
    msg.attach(_part("plain", rendered.text))
    msg.attach(_part("html", rendered.html))
    return msg.as_bytes()


def _part(subtype: str, body: str) -> EmailMessage:
    """A UTF-8 text part, quoted-printable (binascii's C encoder; the stdlib's is Python)."""
    part = EmailMessage(_POLICY)
    part["Content-Type"] = _header("Content-Type", f'text/{subtype}; charset="utf-8"')
    part["Content-Transfer-Encoding"] = _header("Content-Transfer-Encoding", "quoted-printable")
    part.set_payload(binascii.b2a_qp(body.encode()).decode("ascii"))
    return part
