"""One exception tree for the whole service.

Every error carries a stable machine-readable ``code`` and the HTTP ``status`` the web
layer answers with (RFC 9457 problem+json). Nothing below ``web`` knows about HTTP
beyond this number.

    VoxpopError (500, internal_error)
    ├── BadRequest (400, bad_request)
    │   ├── MalformedJSON (400, malformed_json)
    │   ├── InvalidCursor (400, invalid_cursor)
    │   └── InvalidToken (400, invalid_token) — a mail's link altered or cut short
    ├── ValidationFailed (422, validation_error)
    │   ├── AnchorNotFound (422, anchor_not_found)
    │   └── CommentRejected (422, comment_rejected) — a banned word
    ├── Unauthorized (401, unauthorized)
    ├── LoginFailed (401, login_failed) — wrong username or password
    ├── Forbidden (403, forbidden)
    │   ├── OriginNotAllowed (403, origin_not_allowed)
    │   ├── EditWindowClosed (403, edit_window_closed)
    │   ├── NotOwner (403, not_owner)
    │   ├── NotModerator (403, not_moderator)
    │   ├── OwnComment (403, own_comment)
    │   ├── RatingsDisabled (403, ratings_disabled)
    │   ├── VerificationRequired (403, verification_required)
    │   ├── CSRFFailed (403, csrf_failed)
    │   ├── InsufficientRole (403, insufficient_role) — signed in, without the role
    │   ├── Banned (403, banned)
    │   └── CommentsClosed (403, comments_closed)
    ├── NotFound (404, not_found)
    │   ├── UnknownSite (404, unknown_site)
    │   ├── UnknownArticle (404, unknown_article)
    │   ├── UnknownComment (404, unknown_comment)
    │   ├── UnknownSubscription (404, unknown_subscription)
    │   └── UnknownReader (404, unknown_reader)
    ├── Conflict (409, conflict)
    │   ├── CommentDeleted (409, comment_deleted)
    │   ├── InvalidTransition (409, invalid_transition)
    │   └── RatingFinal (409, rating_final)
    ├── Gone (410, gone)
    │   ├── CommentGone (410, comment_deleted) — reading a deleted comment by id
    │   └── TokenExpired (410, token_expired) — a confirmation link past its time
    ├── PayloadTooLarge (413, payload_too_large)
    ├── UnsupportedMediaType (415, unsupported_media_type)
    ├── RateLimited (429, rate_limited)  — carries retry_after seconds
    └── ConfigurationError (500, configuration_error) — refused at start
"""

from __future__ import annotations

from typing import Any, ClassVar


class VoxpopError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(VoxpopError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class MalformedJSON(BadRequest):
    code = "malformed_json"
    title = "The request body is not valid JSON"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = "The pagination cursor is not valid"


class InvalidToken(BadRequest):
    code = "invalid_token"
    title = "The link is not valid"


class ValidationFailed(VoxpopError):
    status = 422
    code = "validation_error"
    title = "The request is not valid"


class AnchorNotFound(ValidationFailed):
    code = "anchor_not_found"
    title = "The selected passage is not in the article's text"


class Unauthorized(VoxpopError):
    status = 401
    code = "unauthorized"
    title = "Credentials are missing or not valid"


class Forbidden(VoxpopError):
    status = 403
    code = "forbidden"
    title = "Not allowed"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"
    title = "This origin may not use this site"


class EditWindowClosed(Forbidden):
    code = "edit_window_closed"
    title = "The time to edit or delete this comment has passed"


class NotOwner(Forbidden):
    code = "not_owner"
    title = "Only the author of a comment or a moderator may change it"


class NotModerator(Forbidden):
    code = "not_moderator"
    title = "This needs a moderator's token"


class OwnComment(Forbidden):
    code = "own_comment"
    title = "You cannot vote on your own comment"


class RatingsDisabled(Forbidden):
    code = "ratings_disabled"
    title = "Ratings are switched off for this site"


class VerificationRequired(Forbidden):
    code = "verification_required"
    title = "Confirm an e-mail address first"


class CSRFFailed(Forbidden):
    code = "csrf_failed"
    title = "The form has expired or did not come from this site; reload and try again"


class InsufficientRole(Forbidden):
    code = "insufficient_role"
    title = "Your role does not allow this"


class Banned(Forbidden):
    code = "banned"
    title = "You cannot comment on this site"


class CommentsClosed(Forbidden):
    code = "comments_closed"
    title = "Comments are closed"


class LoginFailed(VoxpopError):
    status = 401
    code = "login_failed"
    title = "Wrong username or password"


class CommentRejected(ValidationFailed):
    code = "comment_rejected"


class NotFound(VoxpopError):
    status = 404
    code = "not_found"
    title = "Not found"


class UnknownSite(NotFound):
    code = "unknown_site"
    title = "No such site"


class UnknownArticle(NotFound):
    code = "unknown_article"
    title = "No such article"


class UnknownComment(NotFound):
    code = "unknown_comment"
    title = "No such comment"


class UnknownSubscription(NotFound):
    code = "unknown_subscription"
    title = "No such subscription"


class Conflict(VoxpopError):
    status = 409
    code = "conflict"
    title = "Conflict"


class CommentDeleted(Conflict):
    code = "comment_deleted"
    title = "The comment has been deleted"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The comment cannot move to that state"


class RatingFinal(Conflict):
    code = "rating_final"
    title = "Ratings cannot be changed on this site"


class Gone(VoxpopError):
    status = 410
    code = "gone"
    title = "The resource no longer exists"


class CommentGone(Gone):
    code = "comment_deleted"
    title = "The comment has been deleted"


class TokenExpired(Gone):
    code = "token_expired"
    title = "The link has expired"


class PayloadTooLarge(VoxpopError):
    status = 413
    code = "payload_too_large"
    title = "The request body is too large"


class UnsupportedMediaType(VoxpopError):
    status = 415
    code = "unsupported_media_type"
    title = "Send the body as application/json"


class RateLimited(VoxpopError):
    status = 429
    code = "rate_limited"
    title = "Too many requests; wait a moment and try again"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class Unavailable(VoxpopError):
    status = 503
    code = "unavailable"
    title = "The service cannot take this request now; try again shortly"


class TooManyStreams(Unavailable):
    code = "too_many_streams"
    title = "This server holds as many live-update streams as it can; try again shortly"


class ConfigurationError(VoxpopError):
    code = "configuration_error"
    title = "The configuration is not valid"


class UnknownReader(NotFound):
    code = "unknown_reader"
    title = "No such reader"
