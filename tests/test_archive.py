"""``voxpop export`` / ``voxpop import voxpop``: a round trip that loses nothing, on SQLite and
PostgreSQL and from one to the other; broken documents restore nothing."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop.app import create_app
from voxpop.importers.records import SourceError
from voxpop.model import Role
from voxpop.services import accounts, archive, importing
from voxpop.store import archive as archive_store
from voxpop.store import migrate
from voxpop.store.archive import SKIPPED
from voxpop.store.db import Database
from voxpop.store.schema import metadata

from .conftest import ADMIN, AppFactory, build_settings, post, rows

H = {"Authorization": f"Bearer {ADMIN}"}
TEXT = "<p>The council voted seven to two on Tuesday to keep the central library open.</p>"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def populate(client: TestClient) -> None:
    """A bit of everything that the export carries, made the way it is made in use."""
    ok(client.put("/api/v1/articles", params={"uri": "/story"}, json={"title": "Library", "html": TEXT}, headers=H))  # fmt: skip
    first = ok(post(client, body="First *take* — ünïcödé 🎉 مرحبا", author_name="Ada Ö", author_email="ada@example.com", author_website="https://ada.example", notify="replies"), 201)  # fmt: skip
    ada = first["reader_token"]
    reply = ok(post(client, body="A reply", parent_id=first["id"], author_name="Bob"), 201)
    bob = reply["reader_token"]
    ok(post(client, token=ada, body="Deep reply", parent_id=reply["id"]), 201)
    anchor = {"selector": [{"type": "TextQuoteSelector", "exact": "seven to two", "prefix": "voted ", "suffix": " on"}]}  # fmt: skip
    ok(post(client, body="Was it not six?", anchor=anchor), 201)
    ok(client.put(f"/api/v1/comments/{first['id']}/vote", json={"value": 1}, headers=bearer(bob)))
    ok(client.put("/api/v1/ratings", json={"uri": "/story", "stars": 4}, headers=bearer(bob)))
    ok(client.post("/api/v1/subscriptions", json={"uri": "/story", "email": "carol@example.com", "scope": "thread"}), 202)  # fmt: skip
    ok(client.post(f"/api/v1/comments/{reply['id']}/flag", json={"reason": "abuse", "note": "rude"}, headers=bearer(ada)), 202)  # fmt: skip
    spam = ok(post(client, body="Buy cheap watches now", uri="/other"), 201)
    ok(client.post(f"/api/v1/admin/comments/{spam['id']}/moderate", json={"action": "spam"}, headers=H))  # fmt: skip
    ok(client.post("/api/v1/admin/bans", json={"site": "default", "kind": "email", "value": "troll@example.com", "days": 7, "reason": "trolling"}, headers=H), 201)  # fmt: skip
    ok(client.put("/api/v1/admin/words", json={"site": "default", "kind": "suspect", "words": ["casino"]}, headers=H))  # fmt: skip
    reader_id = int(ada.split(".")[1])  # a reader token is r1.<reader id>.<signature>
    ok(client.put(f"/api/v1/admin/authors/{reader_id}", json={"site": "default", "trusted": True}, headers=H))  # fmt: skip
    ok(client.post("/api/v1/admin/articles/close", json={"site": "default", "uri": "/other", "closed": True}, headers=H))  # fmt: skip
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    accounts.create_account(ctx, "cli", "mod-ada", "a long enough password", [("default", Role.MODERATOR)])  # fmt: skip
    # Imported comments: keys, and replies whose parents came later (a higher id).
    importing.run(ctx, "disqus", str(Path(__file__).parent / "fixtures/imports/disqus/export.xml"))


@contextmanager
def app_on(db: Database) -> Iterator[TestClient]:
    """The real app over a database of the test's own."""
    app = create_app(build_settings(db.url), db=db, migrate_on_start=False)
    with TestClient(app) as client:
        yield client
    app.state.ctx.versions.close()
    app.state.ctx.limiter.close()


def document(path: Path) -> dict[str, Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    data.pop("exported_at")
    return data


@pytest.fixture
def empty_target(database: Database, tmp_path: Path) -> Iterator[Database]:
    """A second, freshly migrated database on the same backend."""
    if database.is_sqlite:
        target = Database(f"sqlite:///{tmp_path / 'restored.db'}")
    else:
        url = sa.engine.make_url(database.engine.url)
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS voxpop_restored WITH (FORCE)")
            conn.exec_driver_sql("CREATE DATABASE voxpop_restored")
        admin.dispose()
        target = Database(url.set(database="voxpop_restored").render_as_string(False))
    migrate.upgrade(target)
    yield target
    target.dispose()


def test_export_then_import_then_export_is_the_same_document(
    make_client: AppFactory, database: Database, empty_target: Database, tmp_path: Path
) -> None:
    client = make_client()
    populate(client)
    first = tmp_path / "first.json"
    archive.export(database, str(first))
    data = document(first)
    carried = {t.name for t in metadata.sorted_tables} - set(SKIPPED)
    assert set(data["tables"]) == carried
    empty = [name for name, table in data["tables"].items() if not table]
    assert empty == [], f"the fixture left {empty} empty: the round trip would not test them"

    # A server's start makes site rows: the restore replaces them.
    with empty_target.write() as conn:
        conn.execute(metadata.tables["sites"].insert().values(name="default", created_at=datetime.now(UTC)))  # fmt: skip
    counts = archive.restore(empty_target, str(first))
    assert counts == {name: len(table) for name, table in data["tables"].items()}
    second = tmp_path / "second.json.gz"
    archive.export(empty_target, str(second))
    assert document(second) == data
    # Ids handed out before, also of queues not carried (the outbox, whose ids make
    # Message-IDs), are not handed out again.
    assert data["sequences"]["outbox"] >= 1
    with empty_target.read() as conn:
        assert archive_store.high_water(conn) == data["sequences"]


def test_restored_database_serves_and_takes_new_rows(
    make_client: AppFactory, database: Database, empty_target: Database, tmp_path: Path
) -> None:
    source = make_client()
    populate(source)
    path = tmp_path / "export.json"
    archive.export(database, str(path))
    archive.restore(empty_target, str(path))
    highest = max(r.id for r in rows(empty_target, "SELECT id FROM comments"))
    with app_on(empty_target) as client:
        thread = client.get("/api/v1/comments", params={"uri": "/story"}).json()
        assert thread == source.get("/api/v1/comments", params={"uri": "/story"}).json()
        fresh = ok(post(client, body="After the move"), 201)
        assert fresh["id"] > highest


def test_sqlite_export_restores_into_postgresql(
    sqlite_database: Database, postgres_db: Database, tmp_path: Path
) -> None:
    with app_on(sqlite_database) as client:
        populate(client)
    path = tmp_path / "from-sqlite.json"
    archive.export(sqlite_database, str(path))
    with postgres_db.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    migrate.upgrade(postgres_db)
    archive.restore(postgres_db, str(path))
    again = tmp_path / "from-postgresql.json"
    archive.export(postgres_db, str(again))
    assert document(again) == document(path)


def test_restore_refuses_a_database_that_holds_data(
    client: TestClient, database: Database, tmp_path: Path
) -> None:
    ok(post(client), 201)
    path = tmp_path / "export.json"
    archive.export(database, str(path))
    with pytest.raises(SourceError, match="already holds data"):
        archive.restore(database, str(path))
    assert len(rows(database, "SELECT id FROM comments")) == 1


BROKEN: dict[str, Any] = {
    "not JSON at all": "this is not json",
    "truncated": lambda text: text[: len(text) // 2],
    "another format": lambda text: text.replace('"format":"voxpop"', '"format":"isso"'),
    "a future version": lambda text: text.replace('"version":1', '"version":9'),
    "a newer schema": lambda text: text.replace('"schema":"0', '"schema":"9'),
    "an unknown table": lambda text: text.replace(
        '"tables": {', '"tables": {"gossip": [{"a": 1}],'
    ),  # fmt: skip
    "an unknown column": lambda text: text.replace('"body":"two"', '"body":"two","mood":"ok"'),
    "a bad date": lambda text: text.replace('"created_at":"', '"created_at":"yesterday ', 1),
    "a dangling reference": lambda text: text.replace('"article_id":1,', '"article_id":999,'),
    "a row that is not an object": lambda text: text.replace('"comments": [', '"comments": [7,'),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_export_restores_nothing(
    case: str, make_client: AppFactory, sqlite_database: Database, tmp_path: Path
) -> None:
    source = tmp_path / "source.db"
    shutil.copy(sqlite_database.url.removeprefix("sqlite:///"), source)
    origin = Database(f"sqlite:///{source}")
    with app_on(origin) as client:
        ok(post(client, body="one"), 201)
        ok(post(client, body="two"), 201)
    good = tmp_path / "good.json"
    archive.export(origin, str(good))
    origin.dispose()
    change = BROKEN[case]
    broken = tmp_path / "broken.json"
    text = good.read_text()
    broken.write_text(change if isinstance(change, str) else change(text))
    assert broken.read_text() != text
    sites = rows(sqlite_database, "SELECT * FROM sites")
    with pytest.raises(SourceError) as refused:
        archive.restore(sqlite_database, str(broken))
    assert str(refused.value)
    assert rows(sqlite_database, "SELECT * FROM sites") == sites
    for table in ("comments", "articles", "readers"):
        assert rows(sqlite_database, f"SELECT * FROM {table}") == []


@pytest.mark.parametrize("damage", ["cut", "garbage"])
def test_a_damaged_gzip_restores_nothing(damage: str, sqlite_database: Database, tmp_path: Path) -> None:  # fmt: skip
    source = tmp_path / "source.db"
    shutil.copy(sqlite_database.url.removeprefix("sqlite:///"), source)
    origin = Database(f"sqlite:///{source}")
    with app_on(origin) as client:
        ok(post(client, body="one"), 201)
    good = tmp_path / "good.json.gz"
    archive.export(origin, str(good))
    origin.dispose()
    raw = good.read_bytes()
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(raw[: len(raw) // 2] if damage == "cut" else b"\x1f\x8b" + b"garbage" * 20)
    with pytest.raises(SourceError, match="cut short or damaged"):
        archive.restore(sqlite_database, str(broken))
    assert rows(sqlite_database, "SELECT * FROM comments") == []
