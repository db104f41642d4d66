"""The optional read replica, against a real PostgreSQL primary and streaming hot standby.

The rule under test (docs/deploying.md, "Read replicas"): a thread page that has to be
built is read on the replica only if the replica has the article at the version the
primary has now; otherwise from the primary, counted in ``db.replica_fallbacks``. So a
thread is never older than the last acknowledged write, for the writer and everyone else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop.app import create_app
from voxpop.errors import ConfigurationError
from voxpop.settings import load
from voxpop.store import migrate
from voxpop.store.db import Database

from .conftest import SECRET, build_settings, post
from .replica import ReplicaPair


@pytest.fixture(scope="module")
def pair() -> Iterator[ReplicaPair]:
    """A primary and its standby, the schema migrated on the primary and replayed."""
    started = time.monotonic()
    running = ReplicaPair()
    try:
        running.start()
        db = Database(running.primary_url)
        try:
            migrate.upgrade(db)
        finally:
            db.dispose()
        running.wait_caught_up()
    except Exception as exc:
        running.stop()
        if os.environ.get("CI"):
            pytest.fail(f"a PostgreSQL primary and standby are required in CI: {exc}")
        pytest.skip(f"no PostgreSQL primary and standby here: {exc}")
    print(f"replica pair ready in {time.monotonic() - started:.1f}s")
    try:
        yield running
    finally:
        running.stop()


class Statements:
    """The SQL statements each engine ran since the last ``take()``."""

    def __init__(self, db: Database) -> None:
        self.primary: list[str] = []
        self.replica: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute", self._on(self.primary))
        sa.event.listen(db.replica_engine, "before_cursor_execute", self._on(self.replica))

    @staticmethod
    def _on(into: list[str]) -> Any:
        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            into.append(statement)

        return record

    def take(self) -> tuple[list[str], list[str]]:
        out = (list(self.primary), list(self.replica))
        self.primary.clear()
        self.replica.clear()
        return out


def _reads_comments(statements: list[str]) -> bool:
    return any("FROM comments" in s for s in statements)


@pytest.fixture
def app(pair: ReplicaPair) -> Iterator[TestClient]:
    """The app configured as in production: the replica URL from the settings only
    (``open_context`` attaches it to the database the app opens)."""
    settings = build_settings(pair.primary_url, database_replica_url=pair.standby_url)
    client = TestClient(create_app(settings, migrate_on_start=False))
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    client.statements = Statements(ctx.db)  # type: ignore[attr-defined]
    yield client
    client.close()
    ctx.versions.close()
    ctx.limiter.close()
    ctx.db.dispose()


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.ctx.db  # type: ignore[attr-defined]
    return db


def _bodies(page: dict[str, Any]) -> list[str]:
    out = []
    for item in page["items"]:
        out.append(item["html"])
        out.extend(_bodies({"items": item["replies"]}))
    return out


def test_a_thread_is_read_on_the_replica_when_it_is_caught_up(
    pair: ReplicaPair, app: TestClient
) -> None:
    db = _db(app)
    assert db.replica_url == pair.standby_url
    first = post(app, uri="/caught-up", body="First words")
    assert first.status_code == 201
    post(app, uri="/caught-up", body="A reply", parent_id=first.json()["id"])
    pair.wait_caught_up()
    app.statements.take()  # type: ignore[attr-defined]

    r = app.get("/api/v1/comments", params={"uri": "/caught-up"})

    assert r.status_code == 200
    assert any("First words" in h for h in _bodies(r.json()))
    assert any("A reply" in h for h in _bodies(r.json()))
    primary, replica = app.statements.take()  # type: ignore[attr-defined]
    # The article with its version first, then the page and its replies, all on the
    # standby; nothing on the primary's pool (the version check uses its own connection).
    assert "FROM articles" in replica[0]
    assert _reads_comments(replica)
    assert primary == []
    assert (db.replica_reads, db.replica_fallbacks) == (1, 0)
    # The same request again is a cache hit: no page is built anywhere.
    assert app.get("/api/v1/comments", params={"uri": "/caught-up"}).json() == r.json()
    assert app.statements.take() == ([], [])  # type: ignore[attr-defined]

    # The no-JavaScript page goes through the same service and the same rule.
    page = app.get("/comments", params={"uri": "/caught-up"})
    assert page.status_code == 200 and "First words" in page.text
    primary, replica = app.statements.take()  # type: ignore[attr-defined]
    assert _reads_comments(replica) and not _reads_comments(primary)
    assert (db.replica_reads, db.replica_fallbacks) == (2, 0)


def test_read_your_writes_while_the_replica_lags(pair: ReplicaPair, app: TestClient) -> None:
    db = _db(app)
    assert post(app, uri="/lagging", body="Old news").status_code == 201
    pair.wait_caught_up()
    assert app.get("/api/v1/comments", params={"uri": "/lagging"}).status_code == 200
    assert (db.replica_reads, db.replica_fallbacks) == (1, 0)

    pair.pause_replay()
    try:
        r = post(app, uri="/lagging", body="Fresh words")
        assert r.status_code == 201
        # The standby really lacks it (it has received the WAL, not applied it).
        assert (
            pair.standby_value("SELECT count(*) FROM comments WHERE id = %s", r.json()["id"]) == 0
        )
        app.statements.take()  # type: ignore[attr-defined]

        # Any reader (this one has no token) sees the acknowledged write: from the primary.
        page = app.get("/api/v1/comments", params={"uri": "/lagging"})
        assert page.status_code == 200
        assert any("Fresh words" in h for h in _bodies(page.json()))
        assert page.json()["total"] == 2
        primary, replica = app.statements.take()  # type: ignore[attr-defined]
        assert replica and "FROM articles" in replica[0] and not _reads_comments(replica)
        assert _reads_comments(primary)
        assert (db.replica_reads, db.replica_fallbacks) == (1, 1)
    finally:
        pair.resume_replay()

    pair.wait_caught_up()
    again = app.get("/api/v1/comments", params={"uri": "/lagging", "sort": "new"})
    assert again.status_code == 200
    assert any("Fresh words" in h for h in _bodies(again.json()))
    primary, replica = app.statements.take()  # type: ignore[attr-defined]
    assert _reads_comments(replica) and primary == []
    assert (db.replica_reads, db.replica_fallbacks) == (2, 1)


def test_reads_go_to_the_primary_while_the_replica_is_down(
    pair: ReplicaPair, app: TestClient
) -> None:
    db = _db(app)
    assert post(app, uri="/down", body="Still here").status_code == 201
    pair.wait_caught_up()
    pair.stop_standby()
    try:
        _read_while_down(app, db)
    finally:
        pair.start_standby()  # for whatever runs after this
    pair.wait_caught_up()


def _read_while_down(app: TestClient, db: Database) -> None:
    for params in ({}, {"sort": "new"}, {"sort": "old"}, {"limit": "5"}):
        r = app.get("/api/v1/comments", params={"uri": "/down", **params})
        assert r.status_code == 200
        assert any("Still here" in h for h in _bodies(r.json()))
    assert db.replica_reads == 0
    assert db.replica_fallbacks == 4  # the first errored; the rest skipped it for a while
    assert post(app, uri="/down", body="And again").status_code == 201
    page = app.get("/comments", params={"uri": "/down"})
    assert page.status_code == 200 and "And again" in page.text
    fragment = app.get("/comments/fragment", params={"uri": "/down"})
    assert fragment.status_code == 200 and "And again" in fragment.text
    assert db.replica_fallbacks == 6


# -- settings ---------------------------------------------------------------------------


def test_a_replica_needs_a_postgresql_primary(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match="VOXPOP_DATABASE_REPLICA_URL.*PostgreSQL"):
        load(
            environ={},
            secret_key=SECRET,
            database_url=f"sqlite:///{tmp_path}/v.db",
            database_replica_url="postgresql://replica.internal/voxpop",
        )
    with pytest.raises(ConfigurationError, match="VOXPOP_DATABASE_REPLICA_URL"):
        Database(f"sqlite:///{tmp_path}/v.db", replica_url="postgresql://replica.internal/v")


@pytest.mark.parametrize(
    "url", ["mysql://replica.internal/voxpop", "sqlite:///replica.db", "replica.internal"]
)
def test_a_replica_url_must_be_postgresql(url: str) -> None:
    with pytest.raises(ConfigurationError, match="VOXPOP_DATABASE_REPLICA_URL.*postgresql://"):
        load(
            environ={"VOXPOP_DATABASE_REPLICA_URL": url},
            secret_key=SECRET,
            database_url="postgresql://db.internal/voxpop",
        )


def test_replica_url_settings() -> None:
    base = {"secret_key": SECRET, "database_url": "postgresql://db.internal/voxpop"}
    assert load(environ={}, **base).database_replica_url == ""
    url = "postgresql://reader@replica.internal/voxpop"
    assert load(environ={"VOXPOP_DATABASE_REPLICA_URL": url}, **base).database_replica_url == url
    # No replica: the SQLite default is untouched.
    db = Database("sqlite://")
    assert db.replica_url is None
    db.dispose()
