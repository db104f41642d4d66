"""The cached read's version check on PostgreSQL: concurrent reads of one article share a
query, but never one sent before they arrived (read-your-writes across processes); and
its reading of the query string."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import pytest

from voxpop.web.fastpath import FreshVersions, _params


class SlowVersions:
    """A version reader whose every query waits until the test lets it answer; the
    answer is the query's number, so a caller's answer says which query it came from."""

    inline = False

    def __init__(self) -> None:
        self.queries: list[tuple[str, asyncio.Event]] = []

    async def get_async(self, site_id: int, uri: str) -> int:
        gate = asyncio.Event()
        self.queries.append((uri, gate))
        number = len(self.queries)
        await gate.wait()
        if uri == "/broken":
            raise RuntimeError("the database went away")
        return number


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _fresh() -> tuple[FreshVersions, SlowVersions, Any]:
    versions = SlowVersions()
    ctx: Any = SimpleNamespace(versions=versions)
    return FreshVersions(ctx), versions, SimpleNamespace(id=1)


def test_a_read_waits_for_a_query_sent_after_it_arrived_and_shares_it() -> None:
    async def main() -> None:
        fresh, versions, site = _fresh()
        first = asyncio.ensure_future(fresh.get(site, "/a"))
        await _settle()
        assert [uri for uri, _ in versions.queries] == ["/a"]  # query 1 under way
        # arriving while query 1 is under way: they wait for the next one, together
        later = [asyncio.ensure_future(fresh.get(site, "/a")) for _ in range(5)]
        other = asyncio.ensure_future(fresh.get(site, "/b"))
        await _settle()
        assert sorted(uri for uri, _ in versions.queries) == ["/a", "/a", "/b"]
        versions.queries[0][1].set()
        assert await first == 1
        await _settle()
        assert not any(task.done() for task in later)  # query 1's answer is not theirs
        for _uri, gate in versions.queries[1:]:
            gate.set()
        answers = await asyncio.gather(*later, other)
        second_a = next(i for i, (u, _) in enumerate(versions.queries[1:], 2) if u == "/a")
        assert answers[:5] == [second_a] * 5
        assert len(versions.queries) == 3  # six reads of /a cost two queries

    asyncio.run(main())


def test_a_failed_query_fails_its_readers_and_the_next_read_asks_again() -> None:
    async def main() -> None:
        fresh, versions, site = _fresh()
        readers = [asyncio.ensure_future(fresh.get(site, "/broken")) for _ in range(3)]
        await _settle()
        versions.queries[0][1].set()
        for reader in readers:
            with pytest.raises(RuntimeError):
                await reader
        again = asyncio.ensure_future(fresh.get(site, "/a"))
        await _settle()
        versions.queries[-1][1].set()
        assert await again == 2

    asyncio.run(main())


def test_a_reader_that_goes_away_leaves_the_answer_to_the_others() -> None:
    async def main() -> None:
        fresh, versions, site = _fresh()
        leaving = asyncio.ensure_future(fresh.get(site, "/a"))
        staying = asyncio.ensure_future(fresh.get(site, "/a"))
        await _settle()
        leaving.cancel()
        await _settle()
        versions.queries[0][1].set()
        assert await staying == 1
        assert leaving.cancelled()

    asyncio.run(main())


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"uri=/story",
        b"uri=%2Fstory%3Fa%3D1&limit=5&sort=new",
        b"uri=/caf%C3%A9+au+lait&site=default",
        b"uri=/%E2%9C%93&cursor=abc_-",
        b"uri=/bad%ZZescape",
        b"uri=/caf\xc3\xa9",  # raw non-ASCII bytes, as a client may send them
        b"uri=/s&filter=all&sort=best&limit=50&cursor=x&site=default",
    ],
)
def test_a_plain_query_string_reads_as_parse_qsl_reads_it(query: bytes) -> None:
    assert _params(query) == dict(parse_qsl(query.decode("latin-1")))


@pytest.mark.parametrize(
    "query",
    [
        b"uri=/a&uri=/b",  # twice: which one the route takes is its business
        b"uri=/a&uri=/a",
        b"uri=/a&limit=",  # a blank value (parse_qsl drops it, the route reports it)
        b"uri=/a&limit",
        b"uri=/a&&limit=5",
        b"uri=/a=b",
        b"uri=/a&%75ri=/b",  # the same name, once escaped
    ],
)
def test_an_unusual_query_string_is_left_to_the_route(query: bytes) -> None:
    assert _params(query) is None


def test_a_fault_of_the_cached_path_is_answered_by_the_app(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from voxpop.app import create_app

    from .conftest import build_settings

    app = create_app(build_settings(f"sqlite:///{tmp_path / 'fault.db'}"))
    with TestClient(app) as client:
        posted = client.post("/api/v1/comments", json={"uri": "/fault", "body": "hello"})
        assert posted.status_code == 201
        first = client.get("/api/v1/comments", params={"uri": "/fault"})
        assert first.status_code == 200
        fast = app.cached_threads  # type: ignore[attr-defined]
        fast._answers.clear()

        def broken(entry: Any) -> Any:
            raise RuntimeError("a fault in the cached path")

        fast._answer = broken
        again = client.get("/api/v1/comments", params={"uri": "/fault"})
        assert again.status_code == 200  # the route answered, not a bare 500
        assert again.json() == first.json()
        assert again.headers["content-security-policy"] == first.headers["content-security-policy"]


def test_a_long_query_string_is_answered_but_not_remembered() -> None:
    from voxpop.web import fastpath

    fast: Any = fastpath.CachedThreads.__new__(fastpath.CachedThreads)
    fast._targets = {}
    fast.ctx = SimpleNamespace(sites={"default": SimpleNamespace(id=1)})
    short = b"uri=/a"
    long = b"uri=/" + b"a" * (fastpath._REMEMBERED_QUERY + 1)
    assert fast._target(short) is not None and short in fast._targets
    assert fast._target(long) is not None and long not in fast._targets
