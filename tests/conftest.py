"""Fixtures: the real app over HTTP, on a real SQLite file and a real PostgreSQL server.

Every test that takes ``client`` runs twice, once per backend. PostgreSQL comes from
VOXPOP_TEST_POSTGRES_URL or a throwaway cluster started here. With CI=true a missing
PostgreSQL fails the run; elsewhere those tests are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop import settings as settings_module
from voxpop.app import create_app
from voxpop.store import migrate
from voxpop.store.db import Database
from voxpop.store.schema import metadata

from .pgcluster import Cluster
from .redisserver import RedisServer
from .smtp import Inbox

SECRET = "test-secret-key-that-is-long-enough"
ADMIN = "admin-token-for-tests-0123456789"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


def _real_server(name: str, variable: str, server: Callable[[], Any]) -> Iterator[str]:
    """The URL in ``variable``, or a server of ours started (``start``/``stop``) for the
    session. With CI=true a server that cannot start fails the run; elsewhere its tests
    are skipped with the reason (a laptop may lack PostgreSQL or Redis)."""
    url = os.environ.get(variable)
    if url:
        yield url
        return
    try:
        running = server()
        url = running.start()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI and could not start: {exc}")
        pytest.skip(f"{name} not available here: {exc}")
    try:
        yield url
    finally:
        running.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _real_server("PostgreSQL", "VOXPOP_TEST_POSTGRES_URL", Cluster)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: VOXPOP_TEST_REDIS_URL, or a server started here."""
    yield from _real_server("Redis", "VOXPOP_TEST_REDIS_URL", RedisServer)


@pytest.fixture(scope="session")
def postgres_db(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(db)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    names = ", ".join(t.name for t in metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path / "voxpop.db"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
        yield db
        db.dispose()
    else:
        db = request.getfixturevalue("postgres_db")
        _truncate(db)
        yield db


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    path = tmp_path / "voxpop.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    yield db
    db.dispose()


class Clock:
    """A settable clock for edit windows and day-salted hashes."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def build_settings(database_url: str, **overrides: str) -> settings_module.Settings:
    values = {
        "env": "dev",
        "database_url": database_url,
        "secret_key": SECRET,
        "admin_token": ADMIN,
        "rate_limits": "off",
        "demo": "on",
        "public_url": "http://testserver",
        **overrides,
    }
    return settings_module.load(environ={}, **values)


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(database: Database) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def make(**overrides: str) -> TestClient:
        app = create_app(
            build_settings(database.url, **overrides), db=database, migrate_on_start=False
        )
        clock = Clock()
        app.state.ctx.clock = clock
        client = TestClient(app, raise_server_exceptions=True)
        client.clock = clock  # type: ignore[attr-defined]
        client.database = database  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()
        c.app.state.ctx.versions.close()  # type: ignore[attr-defined]
        c.app.state.ctx.limiter.close()  # type: ignore[attr-defined]


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()


def post(client: TestClient, token: str | None = None, **body: Any) -> Any:
    """POST a comment; returns the response."""
    body.setdefault("uri", "/story")
    body.setdefault("body", "A comment")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/comments", json=body, headers=headers)


def rows(database: Database, sql: str) -> list[Any]:
    with database.engine.connect() as conn:
        return list(conn.execute(sa.text(sql)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: sync Playwright leaves an event loop in the main thread."""
    items.sort(key=lambda item: "/e2e/" in str(item.fspath))


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on a free port, collecting what it is sent."""
    box = Inbox().start()
    yield box
    box.stop()


def drain(client: TestClient) -> Any:
    """Run one outbox worker over everything due now (the app's own worker only runs
    inside a served app's lifespan)."""
    from voxpop.services.delivery import Mailer

    mailer = Mailer(client.app.state.ctx)  # type: ignore[attr-defined]

    async def run() -> Any:
        try:
            return await mailer.drain()
        finally:
            await mailer.sender.close()

    return asyncio.run(run())
