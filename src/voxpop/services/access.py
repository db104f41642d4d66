"""Every permission check, one condition per line.

Staff rights come from roles per site (``moderator`` < ``admin``; a role on ``*`` holds on
every site) or from the admin token, which is an admin everywhere. ``PERMISSIONS`` says
which role each action needs; ``require`` is the only place that decides.
"""

from __future__ import annotations

from datetime import datetime

from voxpop.errors import (
    EditWindowClosed,
    InsufficientRole,
    NotModerator,
    NotOwner,
    Unauthorized,
)
from voxpop.model import Comment, CommentStatus, Role
from voxpop.services.identity import Actor

# action → the least role that may do it
PERMISSIONS: dict[str, Role] = {
    "queue.view": Role.MODERATOR,  # the moderation queue and a comment's context
    "comment.moderate": Role.MODERATOR,  # approve, reject, spam, delete; resolves flags
    "ban.manage": Role.MODERATOR,  # ban and lift bans on readers, addresses, e-mails
    "author.mark": Role.MODERATOR,  # trust or shadow-ban an author
    "article.close": Role.MODERATOR,  # close or reopen an article's comments
    "audit.view": Role.MODERATOR,
    "rating.manage": Role.MODERATOR,  # remove a rating, purge a stuffing wave
    "feedback.manage": Role.MODERATOR,  # lost inline feedback
    "words.manage": Role.ADMIN,  # banned and suspect word lists
    "author.purge": Role.ADMIN,  # delete all of an author's data on a site
    "article.register": Role.ADMIN,  # PUT /api/v1/articles
    "outbox.manage": Role.ADMIN,  # the mail outbox: view, retry
    "webhook.manage": Role.ADMIN,  # a site's webhook delivery log: view, retry
    "accounts.manage": Role.ADMIN,  # accounts and their roles (on every site only)
}


def allowed(actor: Actor, action: str, site: str | None) -> bool:
    """Whether the actor may do ``action`` on ``site`` (None: on every site at once)."""
    needed = PERMISSIONS[action]
    role = actor.role_on(site)
    if role is None:
        return False
    return role is Role.ADMIN or role is needed


def require(actor: Actor, action: str, site: str | None) -> None:
    if allowed(actor, action, site):
        return
    if actor.staff:
        raise InsufficientRole(f"Your role does not allow {action} on this site")
    if actor.reader_id is None:
        raise Unauthorized("Sign in at /admin, or send the admin token as Authorization: Bearer")
    raise NotModerator()


def check_moderator(
    actor: Actor, site: str | None = None, action: str = "comment.moderate"
) -> None:
    require(actor, action, site)


def check_can_change(actor: Actor, comment: Comment, now: datetime, window: int) -> None:
    """Owner within the edit window, or a moderator, may edit or delete a comment."""
    if actor.moderator:
        return
    if actor.reader_id is None:
        raise Unauthorized("Send your reader token to change your comment")
    if comment.reader_id != actor.reader_id:
        raise NotOwner()
    if (now - comment.created_at).total_seconds() > window:
        raise EditWindowClosed(f"Comments can be changed for {window // 60} minutes after posting")


def can_see(actor: Actor, comment: Comment) -> bool:
    if comment.status in (CommentStatus.APPROVED, CommentStatus.DELETED):
        return True
    if actor.moderator or actor.staff:
        return True
    return actor.reader_id is not None and actor.reader_id == comment.reader_id
