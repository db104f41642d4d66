"""Rate limits shared through a real Redis (VOXPOP_REDIS_URL): every process counts against
the same window, and a Redis outage lets requests through rather than failing them."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from voxpop.errors import RateLimited
from voxpop.services.ratelimit import RedisLimiter
from voxpop.settings import Rate

from .conftest import AppFactory, post
from .redisserver import RedisServer


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_two_processes_share_one_count(redis_url: str) -> None:
    first, second = RedisLimiter(redis_url), RedisLimiter(redis_url)  # as two servers would
    name, rate = key(), Rate(3, 60)
    first.hit(name, rate)
    second.hit(name, rate)
    first.hit(name, rate)
    with pytest.raises(RateLimited) as refused:
        second.hit(name, rate)
    assert 59 <= refused.value.retry_after <= 60
    second.hit(key(), rate)  # another key has its own count
    first.close()
    second.close()


def test_the_window_slides(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url)
    name, rate = key(), Rate(2, 1)
    limiter.hit(name, rate)
    limiter.hit(name, rate)
    with pytest.raises(RateLimited) as refused:
        limiter.hit(name, rate)
    assert refused.value.retry_after == 1
    time.sleep(1.05)
    limiter.hit(name, rate)  # the first two left the window
    limiter.close()


def test_a_redis_outage_lets_requests_through() -> None:
    server = RedisServer()
    server.start()
    limiter = RedisLimiter(server.url)
    name, rate = key(), Rate(1, 60)
    limiter.hit(name, rate)
    with pytest.raises(RateLimited):
        limiter.hit(name, rate)
    server.stop()
    started = time.monotonic()
    limiter.hit(name, rate)  # no Redis: allowed, quickly
    assert time.monotonic() - started < 3
    limiter.close()


def test_servers_with_one_redis_share_the_post_limit(
    make_client: AppFactory, redis_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as direct:
        direct.flushdb()  # the other backend's run used the same keys
    settings = {"redis_url": redis_url, "rate_limits": "on", "post_rate": "2/60"}
    one, two = make_client(**settings), make_client(**settings)
    assert post(one, uri=f"/r/{uuid.uuid4().hex}").status_code == 201
    assert post(two, uri="/elsewhere").status_code == 201
    r = post(one, uri="/a-third")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
