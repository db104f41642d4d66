"""Model objects → the JSON-ready dicts the API shows, shared by the routes and the
live-update stream (which must send a comment exactly as a thread read shows it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voxpop.model import Comment, RatingTally


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def comment(c: Comment, depth: int = 0) -> dict[str, Any]:
    deleted = c.is_deleted
    return {
        "id": c.id,
        "parent_id": c.parent_id,
        "depth": depth,
        "author": {
            "name": None if deleted else c.author.name,
            "website": None if deleted else c.author.website,
        },
        "html": "" if deleted else c.html,
        "created_at": iso(c.created_at),
        "edited_at": iso(c.edited_at),
        "votes": {"up": c.up, "down": c.down},
        "anchor": c.anchor,
        "status": c.status.value,
        "deleted": deleted,
        "replies": [comment(r, depth + 1) for r in c.replies],
    }


def tally(t: RatingTally) -> dict[str, Any]:
    """A rating tally as the API shows it: full-precision average, count, histogram."""
    return {"average": t.average, "count": t.count, "histogram": list(t.histogram)}
