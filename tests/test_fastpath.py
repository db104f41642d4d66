"""The cached read's version check on PostgreSQL: concurrent reads of one article share a
query, but never one sent before they arrived (read-your-writes across processes)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from voxpop.web.fastpath import FreshVersions


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
