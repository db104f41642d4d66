"""SQLite with several processes: the writers take turns on a lock file beside the
database (never "database is locked"), and VOXPOP_SQLITE_SYNCHRONOUS sets how durable a
commit is."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from voxpop.errors import ConfigurationError
from voxpop.settings import load, sqlite_synchronous
from voxpop.store.db import Database
from voxpop.store.schema import readers

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

# One writer process: threads that write through ``transact`` (group commit) and
# ``write()``, with SQLite's busy timeout at 0, so that any wait SQLite itself had to do
# would fail at once with "database is locked" instead of being waited out.
WRITER = textwrap.dedent(
    """
    import json, sys, threading
    from datetime import UTC, datetime
    import sqlalchemy as sa
    from voxpop.store.db import Database
    from voxpop.store.schema import readers

    url, base, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = Database(url, synchronous="normal")

    @sa.event.listens_for(db.engine, "connect")
    def no_busy_wait(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout=0")

    errors = []

    def insert(i):
        def txn(conn):
            conn.execute(sa.insert(readers).values(id=i, created_at=datetime.now(UTC)))
            return i
        try:
            if i % 5:
                db.transact(txn)
            else:
                with db.write() as conn:
                    txn(conn)
        except Exception as exc:
            errors.append(repr(exc))

    def run(first):
        for i in range(first, base + count, 8):
            insert(i)

    print("ready", flush=True)
    sys.stdin.readline()  # start together
    threads = [threading.Thread(target=run, args=(base + k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    print(json.dumps(errors), flush=True)
    """
)


def test_two_processes_write_concurrently_without_database_is_locked(
    sqlite_database: Database,
) -> None:
    url = sqlite_database.url
    count = 400
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(base), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for base in (100_000, 200_000)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0, 0]
    errors = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    assert errors == [[], []]
    with sqlite_database.read() as conn:
        ids = {int(r.id) for r in conn.execute(sa.select(readers.c.id))}
    expected = {*range(100_000, 100_000 + count), *range(200_000, 200_000 + count)}
    assert expected <= ids
    assert Path(url.removeprefix("sqlite:///") + ".lock").exists()


def _synchronous(db: Database) -> int:
    with db.write() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_synchronous_reaches_every_connection(tmp_path: Path) -> None:
    for level, pragma in (("normal", 1), ("full", 2)):
        db = Database(f"sqlite:///{tmp_path / level}.db", synchronous=level)
        try:
            assert _synchronous(db) == pragma
            with db.read() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == pragma
        finally:
            db.dispose()


def test_synchronous_comes_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOXPOP_SQLITE_SYNCHRONOUS", raising=False)
    monkeypatch.delenv("VOXPOP_CONFIG", raising=False)
    base = {"VOXPOP_SECRET_KEY": "a-secret-key-long-enough-for-tests"}
    assert sqlite_synchronous() == "full" == load(base).sqlite_synchronous
    config = tmp_path / "voxpop.toml"
    config.write_text('sqlite_synchronous = "normal"\n')
    from_file = {**base, "VOXPOP_CONFIG": str(config)}
    assert sqlite_synchronous(from_file) == "normal" == load(from_file).sqlite_synchronous
    environ = {**from_file, "VOXPOP_SQLITE_SYNCHRONOUS": "FULL"}
    assert sqlite_synchronous(environ) == "full" == load(environ).sqlite_synchronous
    with pytest.raises(ConfigurationError, match="VOXPOP_SQLITE_SYNCHRONOUS"):
        load({**base, "VOXPOP_SQLITE_SYNCHRONOUS": "off"})

    monkeypatch.setenv("VOXPOP_SQLITE_SYNCHRONOUS", "normal")
    db = Database(f"sqlite:///{tmp_path / 'env.db'}")
    try:
        assert db.synchronous == "normal" and _synchronous(db) == 1
    finally:
        db.dispose()
