"""Every permission check, one condition per line."""

from __future__ import annotations

from datetime import datetime

from voxpop.errors import EditWindowClosed, NotModerator, NotOwner, Unauthorized
from voxpop.model import Comment, CommentStatus
from voxpop.services.identity import Actor


def check_moderator(actor: Actor) -> None:
    if actor.moderator:
        return
    if actor.reader_id is None:
        raise Unauthorized("Send the admin token as Authorization: Bearer <token>")
    raise NotModerator()


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
    if actor.moderator:
        return True
    return actor.reader_id is not None and actor.reader_id == comment.reader_id
