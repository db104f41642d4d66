"""Rate limits: a sliding-window counter per key, in process.

``hit`` raises RateLimited with the seconds until the oldest counted hit leaves the
window. A Redis-backed limiter with the same interface replaces it when scaled out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from voxpop.errors import RateLimited
from voxpop.settings import Rate


class Limiter(Protocol):
    def hit(self, key: str, rate: Rate) -> None: ...


class NoLimiter:
    def hit(self, key: str, rate: Rate) -> None:
        return None


class MemoryLimiter:
    def __init__(self, max_keys: int = 100_000, now: Callable[[], float] = time.monotonic) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys
        self.now = now

    def hit(self, key: str, rate: Rate) -> None:
        now = self.now()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._evict(now)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= now - rate.seconds:
                hits.popleft()
            if len(hits) >= rate.count:
                raise RateLimited(int(hits[0] + rate.seconds - now) + 1)
            hits.append(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] < now - 3600]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:
            self._hits.clear()
