"""Request and response shapes of the JSON API (they make the OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from voxpop.model import MAX_ID

_IN = ConfigDict(strict=True, extra="ignore")

SiteName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class TextQuoteSelector(BaseModel):
    model_config = _IN
    type: Literal["TextQuoteSelector"]
    exact: Annotated[str, Field(min_length=1, max_length=2000)]
    prefix: Annotated[str, Field(max_length=64)] = ""
    suffix: Annotated[str, Field(max_length=64)] = ""


class TextPositionSelector(BaseModel):
    model_config = _IN
    type: Literal["TextPositionSelector"]
    start: Annotated[int, Field(ge=0, le=10_000_000)]
    end: Annotated[int, Field(ge=0, le=10_000_000)]


Selector = Annotated[TextQuoteSelector | TextPositionSelector, Field(discriminator="type")]


class AnchorIn(BaseModel):
    model_config = _IN
    selector: Annotated[list[Selector], Field(min_length=1, max_length=4)]


class CommentIn(BaseModel):
    model_config = _IN
    uri: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    body: Annotated[str, Field(min_length=1, max_length=100_000)]
    site: SiteName = "default"
    parent_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    title: Annotated[str, Field(max_length=1000)] | None = None
    author_name: Annotated[str, Field(max_length=1000)] | None = None
    author_email: Annotated[str, Field(max_length=1000)] | None = None
    author_website: Annotated[str, Field(max_length=2000)] | None = None
    anchor: AnchorIn | None = None
    notify: Literal["thread", "replies"] | None = None
    # Anti-spam: a hidden field people leave empty, and the seconds the form was open.
    honeypot: Annotated[str, Field(max_length=1000)] | None = None
    elapsed: Annotated[float, Field(ge=-86400, le=10_000_000)] | None = None


class CommentPatch(BaseModel):
    model_config = _IN
    body: Annotated[str, Field(min_length=1, max_length=100_000)]


class VoteIn(BaseModel):
    model_config = _IN
    value: Annotated[StrictInt, Field(ge=-1, le=1, description="1 up, -1 down, 0 withdraw")]


class RatingIn(BaseModel):
    model_config = _IN
    uri: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    stars: Annotated[StrictInt, Field(ge=1, le=5, description="whole stars, 1 to 5")]
    site: SiteName = "default"
    title: Annotated[str, Field(max_length=1000)] | None = Field(
        default=None, description="the article's title, needed when it is rated first"
    )


ArticleText = Annotated[str, Field(max_length=4_000_000)]


class ArticleIn(BaseModel):
    model_config = _IN
    title: Annotated[str, Field(max_length=1000)] | None = None
    text: ArticleText | None = Field(
        default=None, description="plain text; a line break ends a paragraph"
    )
    html: ArticleText | None = Field(
        default=None,
        description='the article\'s HTML; <mark data-voxpop-question="…"> marks a question',
    )


class LocateIn(BaseModel):
    model_config = _IN
    uri: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    site: SiteName = "default"
    text: ArticleText | None = None
    html: ArticleText | None = None


class AnchorAt(BaseModel):
    model_config = _IN
    start: Annotated[StrictInt, Field(ge=0, le=10_000_000)]
    end: Annotated[StrictInt, Field(ge=1, le=10_000_000)]


class ModerateIn(BaseModel):
    model_config = _IN
    action: Literal["approve", "reject", "spam", "delete"]


class AuthorOut(BaseModel):
    name: str | None
    website: str | None


class VotesOut(BaseModel):
    up: int
    down: int


class AnchorOut(BaseModel):
    selector: list[dict[str, Any]]
    state: Literal["anchored", "modified", "orphaned", "ambiguous"]
    original: dict[str, Any]


class CommentOut(BaseModel):
    id: int
    parent_id: int | None
    depth: int
    author: AuthorOut
    html: str
    created_at: str
    edited_at: str | None
    votes: VotesOut
    anchor: AnchorOut | None
    status: Literal["approved", "pending", "rejected", "spam", "deleted", "shadowed"]
    deleted: bool
    replies: list[CommentOut]


class PostedOut(CommentOut):
    reader_token: str
    editable_until: str


class ThreadOut(BaseModel):
    items: list[CommentOut]
    next_cursor: str | None
    total: int


class TallyOut(BaseModel):
    up: int
    down: int
    mine: Literal[-1, 0, 1]
    reader_token: str | None = None


class MeOut(BaseModel):
    votes: dict[str, int]
    editable: list[int]
    editable_until: dict[str, str]
    edit_window: int


class RatingOut(BaseModel):
    average: float | None
    count: int
    histogram: list[int]


class MyRatingOut(RatingOut):
    mine: int | None
    reader_token: str | None = None


class RankedOut(BaseModel):
    uri: str
    title: str
    average: float
    count: int
    histogram: list[int]
    score: float


class TopOut(BaseModel):
    by: Literal["rating"]
    items: list[RankedOut]


class StoredRatingOut(BaseModel):
    reader_id: int
    uri: str
    stars: int
    counted: bool
    created_at: str
    updated_at: str


class AdminRatingsOut(BaseModel):
    rating: RatingOut | None
    items: list[StoredRatingOut]


class RemovedOut(BaseModel):
    removed: int


class SummaryOut(BaseModel):
    comments: int
    feedback: int
    rating: RatingOut


class RegisteredOut(BaseModel):
    uri: str
    revision: int
    created: bool
    anchored: int
    orphaned: int
    ambiguous: int
    moved: int
    modified: int


class QuestionOut(BaseModel):
    question: str
    selector: list[dict[str, Any]]


class ArticleOut(BaseModel):
    uri: str
    title: str
    revision: int
    questions: list[QuestionOut]


class LocatedOut(BaseModel):
    comment_id: int
    start: int | None
    end: int | None
    state: Literal["anchored", "modified", "orphaned", "ambiguous"]


class LostItemOut(BaseModel):
    uri: str
    comment_id: int
    anchor: dict[str, Any]


class LostOut(BaseModel):
    items: list[LostItemOut]


class RatingPolicyOut(BaseModel):
    enabled: bool
    guests: bool
    changes: bool


class ConfigOut(BaseModel):
    site: str
    language: str
    moderation: str
    edit_window: int
    max_comment_chars: int
    ratings: RatingPolicyOut


class HealthOut(BaseModel):
    status: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    errors: list[dict[str, str]] | None = None


class SubscriptionIn(BaseModel):
    model_config = _IN
    uri: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    email: Annotated[str, Field(min_length=3, max_length=254)]
    scope: Literal["thread", "replies", "comment"] = Field(
        description="thread: every new comment; replies: replies below the caller's own "
        "comments; comment: replies below comment_id"
    )
    site: SiteName = "default"
    delivery: Literal["instant", "digest"] = "instant"
    comment_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = None
    title: Annotated[str, Field(max_length=1000)] | None = None
    lang: Literal["en", "de"] | None = Field(default=None, description="language of the mails")


class SubscribedOut(BaseModel):
    status: Literal["accepted"]
    detail: str
    reader_token: str | None = None


class OutboxRetryIn(BaseModel):
    model_config = _IN
    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=1000)] | None = (
        Field(default=None, description="rows to queue again; omitted: every failed row")
    )


class OutboxItemOut(BaseModel):
    id: int
    kind: Literal["confirm", "notify", "digest"]
    status: Literal["queued", "sent", "failed", "dropped", "digest", "bundled"]
    to: str
    attempts: int
    last_error: str | None
    due_at: str
    sent_at: str | None
    created_at: str
    article_id: int | None
    comment_id: int | None
    reason: str | None


class OutboxOut(BaseModel):
    counts: dict[str, int]
    items: list[OutboxItemOut]
    next_before: int | None


class RetriedOut(BaseModel):
    queued: int
