"""Live updates (``GET /api/v1/events``) from a real server, on SQLite and PostgreSQL:
what is announced (only visible, committed changes), replay after a reconnect, the
shutdown hand-off, bad requests, and the event log's numbering."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from voxpop.store import articles as article_store
from voxpop.store import events as event_store
from voxpop.store import sites as site_store
from voxpop.store.db import Database
from voxpop.store.schema import events as events_table

from .conftest import ADMIN, _truncate
from .procs import Server, fresh_postgres
from .sse import END, Listener

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {"VOXPOP_ADMIN_TOKEN": ADMIN, "VOXPOP_SECRET_KEY": "k" * 40}
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("events") / "events.db"
        with Server({**env, "VOXPOP_DATABASE_URL": f"sqlite:///{path}"}, name="events") as s:
            yield s
        return
    with (
        fresh_postgres(request.getfixturevalue("postgres_url")) as url,
        Server({**env, "VOXPOP_DATABASE_URL": url}, name="events-pg") as s,
    ):
        yield s


def _uri(name: str) -> str:
    return f"/live/{name}-{time.monotonic_ns()}"


def _post(server: Server, uri: str, body: str, token: str | None = None, **extra: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(
        server.url + "/api/v1/comments", json={"uri": uri, "body": body, **extra}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def _listen(server: Server, uri: str, **params: Any) -> Listener:
    query = httpx.QueryParams({"uri": uri, **params})
    listener = Listener(f"{server.url}/api/v1/events?{query}")
    assert listener.status == 200
    return listener


def test_a_new_comment_reaches_a_reader_of_its_article_only(server: Server) -> None:
    uri, other = _uri("a"), _uri("b")
    here, there = _listen(server, uri), _listen(server, other)
    try:
        posted = _post(server, uri, "Hello *live* <script>alert(1)</script>")
        message = here.until("comment")
        data = message.json()
        assert data["id"] == posted["id"]
        assert data["html"] == posted["html"]  # exactly what a thread read shows, sanitised
        assert "<script" not in data["html"]
        assert data["votes"] == {"up": 0, "down": 0} and data["replies"] == []
        assert message.id is not None and int(message.id) > 0
        assert here.retries[0] == 3000
        assert there.quiet(1.5) == []  # another article's reader hears nothing
    finally:
        here.close()
        there.close()


def test_votes_ratings_edits_and_deletions_are_announced(server: Server) -> None:
    uri = _uri("changes")
    author = _post(server, uri, "first version")
    token, comment_id = author["reader_token"], author["id"]
    listener = _listen(server, uri)
    try:
        r = httpx.put(f"{server.url}/api/v1/comments/{comment_id}/vote", json={"value": 1})
        assert r.status_code == 200, r.text
        vote = listener.until("vote").json()
        assert vote == {"id": comment_id, "votes": {"up": 1, "down": 0}}

        r = httpx.put(f"{server.url}/api/v1/ratings", json={"uri": uri, "stars": 4})
        assert r.status_code == 200, r.text
        rating = listener.until("rating").json()
        assert rating["count"] == 1 and rating["average"] == 4
        assert rating["histogram"] == [0, 0, 0, 1, 0] and "mine" not in rating

        headers = {"Authorization": f"Bearer {token}"}
        r = httpx.patch(
            f"{server.url}/api/v1/comments/{comment_id}", json={"body": "second"}, headers=headers
        )
        assert r.status_code == 200, r.text
        edit = listener.until("edit").json()
        assert edit["id"] == comment_id and "second" in edit["html"] and edit["edited_at"]

        r = httpx.delete(f"{server.url}/api/v1/comments/{comment_id}", headers=headers)
        assert r.status_code == 204, r.text
        assert listener.until("remove").json() == {"id": comment_id}
    finally:
        listener.close()


def test_held_comments_are_announced_only_when_approved(server: Server) -> None:
    uri = _uri("held")
    listener = _listen(server, uri)
    try:
        # Three links: the policy (auto) holds it for a moderator.
        links = " ".join(f"https://example.com/{i}" for i in range(4))
        held = _post(server, uri, f"look {links}")
        assert held["status"] == "pending"
        # A rejected one is never announced either.
        rejected = _post(server, uri, f"and {links} again")
        assert rejected["status"] == "pending"
        assert [m.event for m in listener.quiet(1.5)] == []
        r = httpx.post(
            f"{server.url}/api/v1/admin/comments/{rejected['id']}/moderate",
            json={"action": "reject"},
            headers=ADMIN_HEADERS,
        )
        assert r.status_code == 200, r.text
        r = httpx.post(
            f"{server.url}/api/v1/admin/comments/{held['id']}/moderate",
            json={"action": "approve"},
            headers=ADMIN_HEADERS,
        )
        assert r.status_code == 200, r.text
        shown = listener.until("comment")
        assert shown.json()["id"] == held["id"]
        assert [m.event for m in listener.quiet(1.0)] == []
        # Taking an approved comment back (spam) tells readers it is gone.
        r = httpx.post(
            f"{server.url}/api/v1/admin/comments/{held['id']}/moderate",
            json={"action": "spam"},
            headers=ADMIN_HEADERS,
        )
        assert r.status_code == 200, r.text
        assert listener.until("remove").json() == {"id": held["id"]}
    finally:
        listener.close()


def test_a_reconnecting_reader_gets_what_it_missed_and_nothing_twice(server: Server) -> None:
    uri, other = _uri("replay"), _uri("elsewhere")
    first = _post(server, uri, "one")
    listener = _listen(server, uri)
    try:
        two = _post(server, uri, "two")
        # (On PostgreSQL "one" may still come: it is numbered just after its commit.)
        while (seen := listener.until("comment")).json()["id"] != two["id"]:
            pass
    finally:
        listener.close()
    # Away: two more here, one elsewhere.
    three = _post(server, uri, "three")
    _post(server, other, "not for this reader")
    four = _post(server, uri, "four")
    back = Listener(
        f"{server.url}/api/v1/events?uri={uri}", headers={"Last-Event-ID": str(seen.id)}
    )
    try:
        missed = [back.until("comment"), back.until("comment")]
        assert [m.json()["id"] for m in missed] == [three["id"], four["id"]]
        assert int(missed[0].id or 0) > int(seen.id or 0)
        five = _post(server, uri, "five")
        live = back.until("comment")
        assert live.json()["id"] == five["id"]
        assert [m.event for m in back.quiet(1.0)] == []  # nothing repeated
    finally:
        back.close()
    # The query parameter does the same for a new EventSource (it cannot set headers).
    again = _listen(server, uri, last_event_id=str(seen.id))
    try:
        ids = [again.until("comment").json()["id"] for _ in range(3)]
        assert ids == [three["id"], four["id"], five["id"]]
        assert first["id"] not in ids
    finally:
        again.close()


def test_a_reader_too_far_behind_is_told_to_reload(server: Server) -> None:
    uri = _uri("reset")
    _post(server, uri, "something")
    ahead = _listen(server, uri, last_event_id=str(2**40))  # a log that was reset
    try:
        assert ahead.until("reset").data == "{}"
    finally:
        ahead.close()


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"uri": "/x", "site": "nowhere"}, 404, "unknown_site"),
        ({"uri": "/x", "last_event_id": "-1"}, 422, "validation_error"),
        ({"uri": "/x", "last_event_id": "nine"}, 422, "validation_error"),
        ({"uri": "bad uri\u0000"}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"uri": "/x", "unknown": "1"}, 422, "validation_error"),
    ],
)
def test_bad_requests_are_refused_with_a_problem(
    server: Server, query: dict[str, str], status: int, code: str
) -> None:
    r = httpx.get(server.url + "/api/v1/events", params=query, timeout=5)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code


def test_a_garbled_last_event_id_header_starts_afresh(server: Server) -> None:
    uri = _uri("garbled")
    listener = Listener(f"{server.url}/api/v1/events?uri={uri}", headers={"Last-Event-ID": "12ab"})
    try:
        assert listener.status == 200
        posted = _post(server, uri, "after the garbled id")
        assert listener.until("comment").json()["id"] == posted["id"]
    finally:
        listener.close()


def test_stopping_the_server_hands_its_readers_off_at_once(tmp_path: Path) -> None:
    env = {"VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path / 'stop.db'}"}
    server = Server(env, name="events-stop").start()
    listeners: list[Listener] = []
    try:
        listeners += [_listen(server, "/stop") for _ in range(5)]
        assert server.proc is not None
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        for listener in listeners:
            assert listener.until(END.event, timeout=20) is END
            assert listener.retries[-1] == 500  # come back soon (to another process)
        # Ended by the hand-off, not cut when uvicorn's 10 s graceful timeout ran out (the
        # margin is for a loaded machine: unloaded, it takes well under a second).
        assert time.monotonic() - started < 8
        # uvicorn re-raises the signal once it has shut down: the exit is by SIGTERM.
        assert server.proc.wait(20) in (0, -signal.SIGTERM)
    finally:
        for listener in listeners:
            listener.close()
        server.kill()


def test_sequencing_on_postgresql_numbers_rows_in_order_once(postgres_db: Database) -> None:
    db = postgres_db
    with db.write() as conn:  # rows an earlier test left unnumbered (no hub ran there)
        event_store.sequence(conn)
    with db.write() as conn:
        site = site_store.ensure(conn, ["sequencing"])["sequencing"]
        article = article_store.get_or_create(conn, site, "/sequencing", "").id
        before = event_store.last(conn)
    now = datetime.now(UTC)
    # Two writers commit in the opposite order of their ids.
    first = db.engine.connect()
    tx1 = first.begin()
    event_store.add(first, article, "vote", "{}", now)
    with db.write() as conn:
        event_store.add(conn, article, "vote", "{}", now)
    with db.write() as conn:
        assert event_store.sequence(conn) == 1  # only what has committed
    tx1.commit()
    first.close()
    # While another sequencer holds the lock, this one waits for it (rather than leaving
    # rows that committed after the holder's snapshot unnumbered).
    with db.write() as conn:
        event_store.add(conn, article, "vote", "{}", now)
    holder = db.engine.connect()
    hold = holder.begin()
    holder.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": event_store._LOCK})
    numbered: list[int] = []

    def sequencer() -> None:
        with db.write() as conn:
            numbered.append(event_store.sequence(conn))

    waiting = threading.Thread(target=sequencer)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and numbered == []
    hold.rollback()
    holder.close()
    waiting.join(10)
    assert numbered == [2]
    with db.write() as conn:
        assert event_store.sequence(conn) == 0
        rows = conn.execute(
            sa.select(events_table.c.id, events_table.c.seq)
            .where(events_table.c.seq > before)
            .order_by(events_table.c.seq)
        ).all()
    assert [r.seq for r in rows] == [before + 1, before + 2, before + 3]
    # The later-committed row (lower id) comes after: numbers follow visibility.
    assert rows[0].id > rows[1].id


def test_forty_readers_of_one_article_all_get_the_comment(server: Server) -> None:
    uri = _uri("many")
    listeners = [_listen(server, uri) for _ in range(40)]
    try:
        posted = _post(server, uri, "to everyone")
        got: list[int] = []
        lock = threading.Lock()

        def wait(listener: Listener) -> None:
            message = listener.until("comment")
            with lock:
                got.append(message.json()["id"])

        threads = [threading.Thread(target=wait, args=(x,)) for x in listeners]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert got == [posted["id"]] * 40
    finally:
        for listener in listeners:
            listener.close()


# ---- the hub and the log, in process (the `database` fixture: SQLite and PostgreSQL) ----


def _hub_ctx(database: Database) -> Any:
    from voxpop.services.context import open_context

    from .conftest import build_settings

    return open_context(build_settings(database.url), database)


async def _until_last(hub: Any, seq: int) -> None:
    """Wait (at most 5 s) until the hub has seen event ``seq``."""
    import asyncio

    for _ in range(250):
        if hub.last >= seq:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the hub stayed at {hub.last}, short of {seq}")


def _write(database: Database, article: int, kind: str, data: str, comment: int | None) -> None:
    with database.write() as conn:
        event_store.add(conn, article, kind, data, datetime.now(UTC), comment_id=comment)
    with database.write() as conn:
        event_store.sequence(conn)


def _article(database: Database, uri: str) -> int:
    with database.write() as conn:
        site = site_store.ensure(conn, ["default"])["default"]
        return article_store.get_or_create(conn, site, uri, "").id


def test_a_reader_who_stops_reading_is_cut_off_and_delays_no_one(database: Database) -> None:
    import asyncio

    from voxpop.services import events as live

    ctx = _hub_ctx(database)
    stalled_article, other_article = _article(database, "/stalled"), _article(database, "/other")

    async def run() -> None:
        hub = live.Hub(ctx)
        await hub.start()
        stalled = hub.open(ctx.site("default").id, "/stalled")
        reading = hub.open(ctx.site("default").id, "/other")
        for i in range(live.QUEUE_MAX + 5):  # more than a stream may hold
            _write(database, stalled_article, "vote", f'{{"n":{i}}}', None)
        _write(database, other_article, "vote", '{"n":"other"}', None)
        hub.written()
        deadline = asyncio.get_running_loop().time() + 20
        while reading.queue.empty() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert reading.queue.get_nowait().data == '{"n":"other"}'  # the hub went on
        assert stalled.ended and stalled.queue.qsize() == live.QUEUE_MAX + 1
        hub.drain()  # never fails, even with a full queue
        assert reading.ended
        hub.close(stalled)
        hub.close(reading)
        assert hub.connections == 0
        await hub.stop()

    asyncio.run(run())


def test_numbers_are_never_given_twice(database: Database) -> None:
    article = _article(database, "/numbers")
    for i in range(3):
        _write(database, article, "vote", f'{{"n":{i}}}', 1000 + i)
    with database.read() as conn:
        low, high = event_store.bounds(conn)
    # Pruning everything old keeps the highest; erasing its comment keeps its place.
    later = datetime.now(UTC) + timedelta(days=2)
    with database.write() as conn:
        assert event_store.prune(conn, later) == high - low
        event_store.tombstone(conn, 1002)
    _write(database, article, "vote", '{"n":"next"}', None)
    with database.read() as conn:
        rows = event_store.of_article(conn, article, high - 1, 10)
    assert [r.seq for r in rows] == [high, high + 1]
    assert rows[0].kind == "remove" and rows[0].data == '{"id":1002}'


def test_a_replay_never_shows_what_readers_can_no_longer_see(server: Server) -> None:
    uri = _uri("takedown")
    before = _listen(server, uri)
    try:
        kept = _post(server, uri, "this stays")
        taken = _post(server, uri, "an abusive comment")
        edited = _post(server, uri, "first words")
        first = before.until("comment")
        r = httpx.post(
            f"{server.url}/api/v1/admin/comments/{taken['id']}/moderate",
            json={"action": "reject"},
            headers=ADMIN_HEADERS,
        )
        assert r.status_code == 200, r.text
        r = httpx.patch(
            f"{server.url}/api/v1/comments/{edited['id']}",
            json={"body": "second words"},
            headers={"Authorization": f"Bearer {edited['reader_token']}"},
        )
        assert r.status_code == 200, r.text
        before.until("edit")
    finally:
        before.close()
    replay = _listen(server, uri, last_event_id=str(int(first.id or 0) - 1))
    try:
        got = replay.quiet(2.0)
    finally:
        replay.close()
    text = " ".join(m.data for m in got)
    assert "abusive" not in text and "first words" not in text
    assert "this stays" in text and "second words" in text
    assert {"id": taken["id"]} in [m.json() for m in got if m.event == "remove"]
    assert kept["id"] in [m.json()["id"] for m in got if m.event == "comment"]


def test_an_odd_last_event_id_header_is_ignored(server: Server) -> None:
    uri = _uri("odd-header")
    listener = Listener(
        f"{server.url}/api/v1/events?uri={uri}", headers={"Last-Event-ID": "\u00b2"}
    )
    try:
        assert listener.status == 200
        posted = _post(server, uri, "after the odd header")
        assert listener.until("comment").json()["id"] == posted["id"]
    finally:
        listener.close()


def test_a_reconnect_is_not_sent_what_it_already_has(database: Database) -> None:
    import asyncio

    from voxpop.services import events as live

    ctx = _hub_ctx(database)
    article = _article(database, "/lagging")

    async def run() -> None:
        hub = live.Hub(ctx)
        await hub.start()
        for i in range(3):
            _write(database, article, "vote", f'{{"n":{i}}}', None)
        with database.read() as conn:
            newest = event_store.last(conn)
        # This process has not read the three yet (it lags); the reader has them all.
        assert hub.last == newest - 3
        stream = hub.open(ctx.site("default").id, "/lagging", after=newest)
        hub.written()
        await _until_last(hub, newest)
        assert hub.last == newest
        missed = await hub.replay(article, newest)
        assert missed == []
        chunks = []
        follow = live.follow(hub, stream, missed)
        chunks.append(await follow.__anext__())  # retry:
        hub.drain()
        async for chunk in follow:
            chunks.append(chunk)
        assert b"event: vote" not in b"".join(chunks)  # nothing it had again
        hub.close(stream)
        await hub.stop()

    asyncio.run(run())


def test_with_no_reader_open_the_hub_keeps_count_and_a_new_reader_gets_only_what_follows(
    database: Database,
) -> None:
    import asyncio

    from voxpop.services import events as live

    ctx = _hub_ctx(database)
    article = _article(database, "/unread")

    async def run() -> None:
        hub = live.Hub(ctx)
        read_rows = hub._read
        reads: list[int] = []

        def counted_read(after: int) -> list[Any]:
            reads.append(after)
            return read_rows(after)

        hub._read = counted_read  # type: ignore[method-assign]
        await hub.start()
        for i in range(3):  # written while nobody listens
            _write(database, article, "vote", f'{{"n":{i}}}', None)
        with database.read() as conn:
            newest = event_store.last(conn)
        hub.written()
        await _until_last(hub, newest)
        assert hub.last == newest
        if database.is_sqlite:
            assert reads == []  # no rows read for nobody: one lookup of the highest number
        stream = hub.open(ctx.site("default").id, "/unread")
        _write(database, article, "vote", '{"n":"after"}', None)
        hub.written()
        await _until_last(hub, newest + 1)
        got = [stream.queue.get_nowait() for _ in range(stream.queue.qsize())]
        assert [e.data for e in got] == ['{"n":"after"}']  # none of the three before it
        hub.close(stream)
        await hub.stop()

    asyncio.run(run())


def test_a_timed_sweep_numbers_rows_a_crashed_process_left_and_is_idle_otherwise(
    postgres_db: Database,
) -> None:
    import asyncio

    from voxpop.services import events as live

    _truncate(postgres_db)
    ctx = _hub_ctx(postgres_db)
    article = _article(postgres_db, "/swept")

    writes: list[int] = []
    write = postgres_db.write

    def counted_write() -> Any:
        writes.append(1)
        return write()

    async def run() -> None:
        hub = live.Hub(ctx)
        postgres_db.write = counted_write  # type: ignore[method-assign]
        try:
            assert await asyncio.to_thread(hub._sequence, True) == 0
        finally:
            del postgres_db.write
        assert writes == []  # nothing waits: a read, no write transaction, no lock
        with postgres_db.write() as conn:  # written by a process that died before numbering
            event_store.add(conn, article, "vote", '{"n":"left"}', datetime.now(UTC))
        assert await asyncio.to_thread(hub._sequence, True) == 1
        assert await asyncio.to_thread(hub._sequence, True) == 0
        with postgres_db.read() as conn:
            assert not event_store.unsequenced(conn)

    asyncio.run(run())
