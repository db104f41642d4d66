"""What every importer yields, whatever the source: threads (articles) and posts (comments).

A reader of a source file yields a ``Thread`` before any ``Post`` that names it; a post may
name a parent that comes later in the file (the import service links it at the end). Times
are aware UTC datetimes. Ids are the source's own, as strings: they key idempotency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

# What a post's status becomes here (``voxpop.model.CommentStatus`` values).
Status = Literal["approved", "pending", "spam", "rejected", "deleted"]
# How a post's body is written: HTML (sanitised and turned into Markdown), Markdown (as a
# reader would type it here), or plain text (escaped).
Format = Literal["html", "markdown", "text"]


@dataclass(frozen=True, slots=True)
class Thread:
    key: str
    url: str
    title: str = ""
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    key: str
    thread_key: str
    parent_key: str | None
    created_at: datetime
    status: Status
    body: str
    format: Format
    author_name: str | None = None
    author_email: str | None = None
    author_website: str | None = None
    edited_at: datetime | None = None
    up: int = 0
    down: int = 0


Record = Thread | Post
# Called now and then with the number of bytes of the source read so far.
Progress = Callable[[int], None]
# A reader: (path, progress) → records.
Reader = Callable[[str, Progress], Iterator[Record]]


class SourceError(Exception):
    """The source file is broken: where (line, when known) and why, for the user."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{reason}")


def utc(value: datetime) -> datetime:
    """A naive time is taken as UTC; an aware one is converted to it."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def no_progress(_read: int) -> None:
    return None
