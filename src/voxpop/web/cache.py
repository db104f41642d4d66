"""A small LRU of rendered thread responses, keyed by request and checked by version.

Every write bumps the article's version in its own transaction, so a cached entry is
used only while the version it was built from is still current: never stale after a
write is acknowledged, whichever process took it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


def thread_key(
    site_id: int, uri: str, sort: Any, filter_: Any, limit: int, cursor: str | None
) -> tuple[Any, ...]:
    """The cache key of one page of a thread, as requested."""
    return (site_id, uri, str(sort), str(filter_), limit, cursor or None)


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Entry:
    version: int
    etag: str
    body: bytes


class ThreadCache:
    def __init__(self, max_entries: int = 2048, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._data: OrderedDict[Any, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    def get(self, key: Any, version: int) -> Entry | None:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            if entry.version != version:
                self._drop(key)
                return None
            self._data.move_to_end(key)
            return entry

    def put(self, key: Any, entry: Entry) -> None:
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = entry
            self._bytes += len(entry.body)
            while self._data and (
                len(self._data) > self._max_entries or self._bytes > self._max_bytes
            ):
                self._drop(next(iter(self._data)))

    def _drop(self, key: Any) -> None:
        entry = self._data.pop(key)
        self._bytes -= len(entry.body)
