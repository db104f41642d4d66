"""Read a Remark42 backup: ``remark42 backup``, the admin export, or a file of its backup dir.

The format (Remark42's ``backend/app/migrator/native.go``, ``store/comment.go``,
``store/user.go``, ``store/service/service.go``): JSON lines, usually gzipped (the backup
dir holds ``backup-{site}-{YYYYMMDD}.gz``; gzip is recognised by its magic bytes, not the
name). Line 1 is the meta record::

    {"version": 1, "users": [{"id", "blocked": {"status", "until"}, "verified",
                              "details": {"user_id", "email"}}],
                   "posts": [{"url", "read_only"}]}

(Remark42 accepts version 0 or 1.) Every further line is one comment, grouped by page and
in time order::

    {"id", "pid" ("" at top level), "text" (rendered, sanitised HTML), "orig" (the Markdown
     as typed, omitted when empty), "user": {"name", "id", "picture", "ip" (an HMAC),
     "admin", "block", "verified", "site_id"}, "locator": {"site", "url"}, "score", "vote",
     "controversy", "time", "edit": {"time", "summary"}, "pin", "delete", "imported",
     "title"}

Times are Go's RFC 3339 with up to nine fractional digits and any offset. A comment is
written by Go's encoder on one line (``\\u2028`` escaped), so line numbers are exact.

How it maps:
- a page appears as ``Thread(key=url, url, title)`` the first time a comment names its
  ``locator.url``, with the title that comment carries; a page the meta lists as
  ``read_only`` is ``closed``.
- ``orig`` → ``markdown``. Remark42 passes ``orig`` through its HTML sanitiser
  (bluemonday) before storing, which escapes ``& < > ' "`` as entities; they are decoded
  back, as Remark42's own editor does. Without ``orig`` (comments Remark42 imported from
  Disqus or WordPress) ``text`` is taken as ``html``.
- ``delete`` → ``deleted`` (Remark42 empties ``text`` and ``orig``; a hard delete also
  renames the user ``deleted``); every other comment → ``approved``: Remark42 has no
  moderation queue (a comment is stored or refused), and a blocked user's comments stay
  visible, marked "Blocked".
- ``user.name`` → author (Remark42 HTML-escapes ``<`` and ``>`` in it; decoded); the e-mail
  is the one the meta's ``users[].details`` holds for ``user.id``. No website exists.
- votes: a ``votes`` map ({user id: true for up}) is counted when present. Exports hide it
  (``prepVotes`` clears it) and keep ``score`` (ups − downs) and ``controversy``
  ((ups + downs) ** (min/max), 0 unless votes go both ways), which give both counts back.
- ``edit.time`` → ``edited_at``.
- Not read: ``user.ip``, ``picture``, ``admin``, ``verified``, ``voted_ips``, ``pin``,
  ``vote``, ``imported``, ``edit.summary``, users' block state.

A line that is not a JSON object, or a comment without ``id``, ``locator.url``, a valid
``time`` or any text field, stops the import: ``SourceError(reason, line)``.
"""

from __future__ import annotations

import gzip
import html
import json
import math
import re
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from io import BufferedReader
from typing import Any

from voxpop.importers.records import (
    Format,
    Post,
    Progress,
    Record,
    SourceError,
    Thread,
    utc,
)

_Stream = gzip.GzipFile | BufferedReader
_GZIP_MAGIC = b"\x1f\x8b"
_REPORT_EVERY = 1000  # lines
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def read(path: str, progress: Progress) -> Iterator[Record]:
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise SourceError(f"cannot open the backup: {exc.strerror}") from None
    with raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: _Stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        closed: set[str] = set()
        emails: dict[str, str] = {}
        seen: set[str] = set()
        meta = False
        for number, line in _lines(stream):
            if not line.strip():
                continue
            record = _json(line, number)
            if not meta:
                meta = True
                closed, emails = _meta(record, number)
                continue
            post, url, title = _post(record, number, emails)
            if url not in seen:
                seen.add(url)
                yield Thread(key=url, url=url, title=title, closed=url in closed)
            yield post
            if number % _REPORT_EVERY == 0:
                progress(raw.tell())
        if not meta:
            raise SourceError("the file is empty: a Remark42 backup starts with a meta line")
        progress(raw.tell())


def _lines(stream: _Stream) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        try:
            line = stream.readline()
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"the file breaks off here: {exc}", number + 1) from None
        if not line:
            return
        number += 1
        yield number, line


def _json(line: bytes, number: int) -> dict[str, Any]:
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise SourceError("not UTF-8 text", number) from None
    except json.JSONDecodeError as exc:
        where = "" if exc.msg.endswith(" at") else " at"
        raise SourceError(f"not JSON: {exc.msg}{where} column {exc.colno}", number) from None
    except RecursionError:
        raise SourceError("not JSON that can be read: nested too deeply", number) from None
    if not isinstance(value, dict):
        raise SourceError("expected a JSON object", number)
    return value


def _meta(record: dict[str, Any], number: int) -> tuple[set[str], dict[str, str]]:
    if "locator" in record:
        raise SourceError(
            "this is a comment, but a Remark42 backup starts with its meta line "
            '({"version": 1, "users": [...], "posts": [...]})',
            number,
        )
    version = record.get("version", 0)
    if version not in (0, 1) or isinstance(version, bool):
        raise SourceError(f"unknown Remark42 backup version {version!r} (expected 1)", number)
    closed = {
        post["url"]
        for post in _list(record.get("posts"))
        if isinstance(post, dict) and post.get("read_only") is True and _text(post.get("url"))
    }
    emails: dict[str, str] = {}
    for user in _list(record.get("users")):
        details = user.get("details") if isinstance(user, dict) else None
        if isinstance(details, dict) and _text(user.get("id")) and _text(details.get("email")):
            emails[user["id"]] = details["email"]
    return closed, emails


def _post(record: dict[str, Any], number: int, emails: dict[str, str]) -> tuple[Post, str, str]:
    key = _text(record.get("id"))
    if key is None:
        raise SourceError("a comment without an id", number)
    locator = record.get("locator")
    url = _text(locator.get("url")) if isinstance(locator, dict) else None
    if url is None:
        raise SourceError(f"comment {key} has no locator URL", number)
    created = _time(record.get("time"), number, f"comment {key}: time")
    edit = record.get("edit")
    edited = None
    if isinstance(edit, dict) and edit.get("time") is not None:
        edited = _time(edit["time"], number, f"comment {key}: edit time")
    text, orig = record.get("text"), record.get("orig")
    if not isinstance(text, str) and not isinstance(orig, str):
        raise SourceError(f"comment {key} has no text", number)
    deleted = record.get("delete") is True
    form: Format
    if deleted:
        body, form = "", "markdown"
    elif isinstance(orig, str) and orig.strip():
        body, form = html.unescape(orig), "markdown"
    else:
        body, form = text if isinstance(text, str) else "", "html"
    user = record.get("user")
    user_id = (_text(user.get("id")) if isinstance(user, dict) else None) or ""
    name = _text(user.get("name")) if isinstance(user, dict) else None
    hard_deleted = deleted and user_id == "deleted"
    up, down = _votes(record)
    parent = record.get("pid")
    post = Post(
        key=key,
        thread_key=url,
        parent_key=_text(parent),
        created_at=created,
        status="deleted" if deleted else "approved",
        body=body,
        format=form,
        author_name=None if hard_deleted or name is None else html.unescape(name),
        author_email=None if deleted else emails.get(user_id),
        edited_at=edited,
        up=up,
        down=down,
    )
    title = record.get("title")
    return post, url, title if isinstance(title, str) else ""


def _time(value: Any, number: int, what: str) -> datetime:
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is not None:
        year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
        offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        try:
            zone = timezone(-offset if sign == "-" else offset)
            micro = int((fraction or "0")[:6].ljust(6, "0"))  # nanoseconds: truncated
            y, mo, d, h, mi, sec = map(int, (year, month, day, hour, minute, second))
            return utc(datetime(y, mo, d, h, mi, sec, micro, tzinfo=zone))
        except (ValueError, OverflowError):
            pass
    raise SourceError(f"{what} {value!r} is not an RFC 3339 time", number)


def _votes(record: dict[str, Any]) -> tuple[int, int]:
    votes = record.get("votes")
    if isinstance(votes, dict) and votes:
        up = sum(1 for value in votes.values() if value is True)
        return up, sum(1 for value in votes.values() if value is False)
    score, controversy = record.get("score"), record.get("controversy")
    if not isinstance(score, int) or isinstance(score, bool):
        return 0, 0
    if isinstance(controversy, int | float) and controversy > 0:
        split = _split(score, float(controversy))
        if split is not None:
            return split
    return max(score, 0), max(-score, 0)


def _split(score: int, controversy: float) -> tuple[int, int] | None:
    """Ups and downs back from Remark42's score (ups − downs) and controversy, which is
    (ups + downs) ** (fewer / more) and grows with the fewer side: a binary search."""
    gap = abs(score)

    def value(fewer: int) -> float:
        more = fewer + gap
        return float((fewer + more) ** (fewer / more))

    low, high = 1, 1 << 31
    while low < high:
        middle = (low + high) // 2
        if value(middle) < controversy:
            low = middle + 1
        else:
            high = middle
    best = min((low - 1, low), key=lambda n: abs(value(n) - controversy) if n > 0 else math.inf)
    if not math.isclose(value(best), controversy, rel_tol=1e-9):
        return None
    return (best + gap, best) if score >= 0 else (best, best + gap)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    """``value`` when it is a string with something in it, else None."""
    return value if isinstance(value, str) and value.strip() else None
