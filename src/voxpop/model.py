"""Plain data: what the service talks about. Imports nothing of voxpop."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

# Ids are 32-bit integers in the database (PostgreSQL refuses larger ones with an error).
MAX_ID = 2**31 - 1


class CommentStatus(enum.StrEnum):
    """A comment's moderation state. Transitions are in ``TRANSITIONS``."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SPAM = "spam"
    DELETED = "deleted"
    # Posted by a shadow-banned author: shown to that author only, as if approved.
    SHADOWED = "shadowed"


# Every allowed change of status. New comments start as approved, pending, spam or
# shadowed (the site's policy decides); moderators move them on; an approved comment goes
# back to pending when enough readers flag it. Deleted is final.
TRANSITIONS: dict[CommentStatus, frozenset[CommentStatus]] = {
    CommentStatus.PENDING: frozenset(
        {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.SPAM, CommentStatus.DELETED}
    ),
    CommentStatus.APPROVED: frozenset(
        {CommentStatus.PENDING, CommentStatus.REJECTED, CommentStatus.SPAM, CommentStatus.DELETED}
    ),
    CommentStatus.REJECTED: frozenset(
        {CommentStatus.APPROVED, CommentStatus.SPAM, CommentStatus.DELETED}
    ),
    CommentStatus.SPAM: frozenset(
        {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.DELETED}
    ),
    CommentStatus.SHADOWED: frozenset(
        {CommentStatus.APPROVED, CommentStatus.REJECTED, CommentStatus.SPAM, CommentStatus.DELETED}
    ),
    CommentStatus.DELETED: frozenset(),
}

# Statuses a new comment may be given by the policy.
INITIAL_STATUSES = frozenset(
    {CommentStatus.APPROVED, CommentStatus.PENDING, CommentStatus.SPAM, CommentStatus.SHADOWED}
)


class Role(enum.StrEnum):
    """An account's role on a site. An admin may do everything a moderator may."""

    MODERATOR = "moderator"
    ADMIN = "admin"


ALL_SITES = "*"


class Sort(enum.StrEnum):
    BEST = "best"
    NEW = "new"
    OLD = "old"


class Filter(enum.StrEnum):
    ALL = "all"
    FEEDBACK = "feedback"


class Moderation(enum.StrEnum):
    NONE = "none"
    PRE = "pre"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class RatingPolicy:
    """How a site takes ratings (settings, per site in the TOML file)."""

    enabled: bool
    guests: bool
    changes: bool
    allowance: int


@dataclass(frozen=True, slots=True)
class Site:
    id: int
    name: str
    title: str
    origins: tuple[str, ...]
    language: str
    moderation: Moderation
    rating: RatingPolicy
    # Where the site's events are POSTed, and the key that signs them (empty: no webhook).
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    site_id: int
    uri: str
    title: str
    version: int
    comment_count: int
    created_at: datetime
    revision: int = 0


@dataclass(frozen=True, slots=True)
class Author:
    name: str | None
    website: str | None


@dataclass(slots=True)
class Comment:
    id: int
    article_id: int
    parent_id: int | None
    root_id: int | None
    reader_id: int | None
    author: Author
    html: str
    body: str
    status: CommentStatus
    created_at: datetime
    edited_at: datetime | None
    up: int
    down: int
    anchor: dict[str, object] | None = None
    replies: list[Comment] = field(default_factory=list)

    @property
    def is_deleted(self) -> bool:
        return self.status is CommentStatus.DELETED


@dataclass(frozen=True, slots=True)
class ThreadPage:
    """Top-level comments of one page, each with all its replies nested."""

    article: Article | None
    items: list[Comment]
    next_cursor: str | None
    total: int


@dataclass(frozen=True, slots=True)
class VoteTally:
    up: int
    down: int
    mine: int


Histogram = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class RatingTally:
    """An article's counted ratings: how many, the sum of their stars, and how many of
    each value (index 0 is one star)."""

    count: int
    total: int
    histogram: Histogram

    EMPTY: ClassVar[RatingTally]

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None

    def including(self, stars: int) -> RatingTally:
        """The tally with one more rating of ``stars``."""
        histogram = list(self.histogram)
        histogram[stars - 1] += 1
        return RatingTally(self.count + 1, self.total + stars, tuple(histogram))  # type: ignore[arg-type]


RatingTally.EMPTY = RatingTally(0, 0, (0, 0, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class Rating:
    """An article's rating as one reader sees it: the tally and their own stars."""

    tally: RatingTally
    mine: int | None


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    uri: str
    comments: int
    feedback: int
    rating: RatingTally
