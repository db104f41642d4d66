"""A rendered notification as the bytes an SMTP client sends.

``build`` writes a multipart/alternative message (text, then HTML) itself, line by line
with CRLF ends, rather than through ``email.message.EmailMessage``: it runs once per
recipient, and the stdlib's header parsing and generator were most of its cost. What
matters on the wire:

* Both bodies are UTF-8 in quoted-printable: 7bit-clean, so no relay without 8BITMIME has
  to convert them, and still legible raw. Quoted-printable never contains "=_", so the
  fixed boundary below cannot be forged by anything a reader writes.
* Headers are folded here, as the stdlib (3.11) cannot be trusted to: it loses the space
  next to an encoded word where it breaks a line (in a subject or display name) and turns a
  long ``List-Unsubscribe`` URL into encoded words no client decodes there. A header that
  fits on one line of plain text is written as it is; any other is folded at spaces when
  plain ASCII, else written as UTF-8 encoded words, split between characters.
* No header can be injected: subject and sender name are collapsed to one line and taken
  literally (an article title may contain anything, even text that looks like an encoded
  line break), and addresses, ids and URLs, which come from configuration and code, raise
  ``ValueError`` on a control character or non-ASCII (no SMTPUTF8).
* Recurring header lines (sender, subject, thread, the second a batch is sent in) are
  built once; a recipient that is a plain ``local@domain`` is written as it is, any other
  goes through the stdlib's address parser.

Every notification of an article names one synthetic root message (``thread_id``) in
``References``, so mail clients thread an article's notifications together.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.charset import Charset
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache
from itertools import repeat

from .render import Rendered, one_line

# "=_" never occurs in quoted-printable text (every "=" there starts an escape), so no body
# line can ever equal the boundary delimiter, however the body was crafted.
BOUNDARY = "=_voxpop_alternative"

# Header lines are at most 78 characters where a word allows (RFC 5322 2.1.1).
_LINE = 78
# Encoded words are at most 75 characters (RFC 2047); 66 leaves room for "Subject: ".
_WORD = 66
_UTF8 = Charset("utf-8")

# An addr-spec of dot-atoms (RFC 5322 3.4.1): ASCII, no space, no control, one "@". The
# stdlib's parser would return it unchanged unless it has "=?" (it decodes encoded words
# even there), so it is written as it is.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*")
_ADDR_MAX = 254  # RFC 5321 4.5.3.1.3, less the angle brackets; longer ones go to the parser

_MULTIPART = f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"'
_ONE_CLICK = "List-Unsubscribe-Post: List-Unsubscribe=One-Click"
_DELIMITER = f"\r\n--{BOUNDARY}\r\n".encode("ascii")
_CLOSE = f"\r\n--{BOUNDARY}--\r\n".encode("ascii")
_PART = (
    'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)
_PLAIN = _PART.format("plain").encode("ascii")
_HTML = _PART.format("html").encode("ascii")


def _plain(text: str) -> bool:
    """Whether text can go into a header as it is (nothing to encode)."""
    return text.isascii() and text.isprintable() and "=?" not in text


def _words(text: str) -> list[str]:
    """Text as header words: split at spaces when plain, else RFC 2047 encoded words,
    split between characters (a space stays inside its word, so no decoder drops it)."""
    if _plain(text):
        return text.split(" ")
    return [word for word in _UTF8.header_encode_lines(text, repeat(_WORD)) if word]


def _mailbox(address: Address) -> list[str]:
    """A mailbox as header words: a plain display name quoted as needed, any other
    encoded."""
    name = address.display_name
    if not name:
        return [address.addr_spec]
    if _plain(name):
        return formataddr((name, address.addr_spec)).split(" ")
    return [*_words(name), f"<{address.addr_spec}>"]


def _fold(name: str, words: list[str]) -> str:
    """A header of words, a line break before each word that would pass ``_LINE``."""
    lines = [f"{name}:"]
    for i, word in enumerate(words):
        if i and len(lines[-1]) + 1 + len(word) > _LINE:
            lines.append("")
        lines[-1] += f" {word}"
    return "\r\n".join(lines)


def _header(name: str, value: str) -> str:
    """A header line (folded, without its CRLF): as it is when it fits and is plain."""
    line = f"{name}: {value}"
    if len(line) <= _LINE and _plain(line):
        return line
    return _fold(name, _words(value))


@lru_cache(maxsize=1024)
def _subject(subject: str) -> str:
    """The Subject line: a comment's notifications all have the same."""
    return _header("Subject", one_line(subject))


@lru_cache(maxsize=64)
def _date(second: datetime, offset: timedelta | None) -> str:
    """The Date line of a second. The offset is part of the key: aware datetimes of the
    same instant are equal whatever their offset, which the line shows."""
    return f"Date: {format_datetime(second)}"


@lru_cache(maxsize=256)
def _address(what: str, addr_spec: str, display_name: str = "") -> str:
    """The From or To line of an address, checked by the stdlib's parser. Cached: a site
    sends every mail from the same sender."""
    try:
        address = Address(display_name=one_line(display_name), addr_spec=_ascii(addr_spec, what))
    except (ValueError, IndexError, HeaderParseError) as e:
        raise ValueError(f"invalid {what} address: {addr_spec!r}") from e
    line = f"{what}: {address}"
    if len(line) <= _LINE and _plain(line):
        return line
    return _fold(what, _mailbox(address))


def _to(addr_spec: str) -> str:
    """The To line: a plain addr-spec as it is, without the parser (every recipient is a
    new one), anything else as ``_address`` makes it."""
    if len(addr_spec) <= _ADDR_MAX and "=?" not in addr_spec and _ADDR_SPEC.fullmatch(addr_spec):
        return f"To: {addr_spec}"
    return _address("To", addr_spec)


@lru_cache(maxsize=1024)
def _thread(references: tuple[str, ...]) -> tuple[str, str]:
    """The In-Reply-To and References lines of a thread (oldest first)."""
    in_reply_to = _header("In-Reply-To", _ascii(references[-1], "In-Reply-To"))
    refs = " ".join(_ascii(ref, "References") for ref in references)
    return in_reply_to, _header("References", refs)


def _qp(body: str) -> bytes:
    """A body as UTF-8 quoted-printable (binascii's C encoder), CRLF line ends: every CR,
    LF or CRLF of the text is one line end, as SMTP has them."""
    data = body.encode()
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    # No CR is left for b2a_qp to keep, so every line end it writes (soft or not) is LF.
    return binascii.b2a_qp(data).replace(b"\n", b"\r\n")


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
    head = [
        _address("From", sender, sender_name),
        _to(to),
        _subject(rendered.subject),
        _date(date.replace(microsecond=0), date.utcoffset()),
        _header("Message-ID", _ascii(message_id, "Message-ID")),
    ]
    if references:
        head += _thread(tuple(references))
    if list_id is not None:
        head.append(_header("List-Id", _ascii(list_id, "List-Id")))
    if unsubscribe_url is not None:
        url = _ascii(unsubscribe_url, "List-Unsubscribe")
        head += (_header("List-Unsubscribe", f"<{url}>"), _ONE_CLICK)
    head += (
        "Auto-Submitted: auto-generated",
        _header("Content-Language", _ascii(lang, "Content-Language")),
        "MIME-Version: 1.0",
        _MULTIPART,
        "",  # the blank line that ends the header
    )
    return b"".join(
        (
            "\r\n".join(head).encode("ascii"),
            _DELIMITER,
            _PLAIN,
            _qp(rendered.text),
            _DELIMITER,
            _HTML,
            _qp(rendered.html),
            _CLOSE,
        )
    )
