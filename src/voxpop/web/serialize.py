"""Model objects → JSON-ready dicts (fast: plain dicts, orjson, no pydantic on the hot path)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from voxpop.model import ThreadPage
from voxpop.services.shapes import comment, iso, tally

__all__ = ["comment", "iso", "iso_ts", "tally", "thread"]


def thread(page: ThreadPage) -> dict[str, Any]:
    return {
        "items": [comment(c) for c in page.items],
        "next_cursor": page.next_cursor,
        "total": page.total,
    }


def iso_ts(timestamp: float) -> str:
    return iso(datetime.fromtimestamp(timestamp, UTC)) or ""
