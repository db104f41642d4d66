"""Rate limits: a sliding-window counter per key, in process or in Redis.

``hit`` raises RateLimited with the seconds until the oldest counted hit leaves the
window. ``MemoryLimiter`` counts in the process (one server); ``RedisLimiter`` counts in
Redis (``VOXPOP_REDIS_URL``), so that every process and host behind a load balancer shares
one count per key.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from voxpop.errors import RateLimited
from voxpop.settings import Rate


class Limiter(Protocol):
    def hit(self, key: str, rate: Rate) -> None: ...

    def close(self) -> None: ...


class NoLimiter:
    def hit(self, key: str, rate: Rate) -> None:
        return None

    def close(self) -> None:
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

    def close(self) -> None:
        return None

    def _evict(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] < now - 3600]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:
            self._hits.clear()


log = logging.getLogger("voxpop.ratelimit")

# One atomic step per hit: drop the hits that left the window, then either refuse (the
# milliseconds until the oldest counted hit leaves) or count this one. The score is the
# server's clock, so every process measures against the same time.
_SLIDING_WINDOW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - ms
end
redis.call('ZADD', KEYS[1], ms, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class RedisLimiter:
    """Counts in Redis. When Redis cannot be reached the hit is let through (and logged,
    at most once a minute): a limit's outage must not become the service's."""

    def __init__(self, url: str, prefix: str = "voxpop:rl:") -> None:
        import redis  # only when configured

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_SLIDING_WINDOW)
        self._errors = (redis.RedisError, OSError)
        self._prefix = prefix
        self._complained = 0.0

    def hit(self, key: str, rate: Rate) -> None:
        member = f"{time.monotonic_ns()}-{secrets.token_hex(4)}"
        try:
            wait = int(
                self._script(
                    keys=[self._prefix + key], args=[rate.count, rate.seconds * 1000, member]
                )
            )
        except self._errors as exc:
            now = time.monotonic()
            if now - self._complained > 60:
                self._complained = now
                log.warning("rate limits are not applied: Redis does not answer (%s)", exc)
            return
        if wait > 0:
            raise RateLimited(-(-wait // 1000))

    def close(self) -> None:
        self._redis.close()
