#!/usr/bin/env python3
"""What each benchmarked system does when it commits: one JSON line per system, for the table.

usage: .venv/bin/python bench/durability.py sqlite        (with the voxpop server's env)
       .venv/bin/python bench/durability.py pg URL
       python3 bench/durability.py isso DB_FILE          (after Isso ran)

sqlite  builds voxpop's app from the environment the benchmark's server gets (VOXPOP_*,
        with a throwaway SQLite file), as `voxpop serve` does, and asks one of its pooled
        connections for PRAGMA journal_mode and synchronous: whatever voxpop does on
        connect (store/db.py) and whatever setting it may read, this is what it runs with.
        Durable across power loss: WAL with synchronous=FULL (or EXTRA), or a rollback
        journal with FULL; WAL with NORMAL loses the last commits on power loss or an
        OS crash (not on a crash of the process).
pg      SHOW fsync, synchronous_commit, full_page_writes, wal_sync_method on the benchmark's
        cluster. Durable: fsync on, synchronous_commit on (or remote_*), full_page_writes on.
isso    opens Isso's database file and reads its journal mode; Isso 0.14 sets no PRAGMA
        (isso/db/__init__.py), so each of its connections runs with SQLite's default
        synchronous=FULL.
"""

import json
import os
import sqlite3
import sys
import tempfile

SYNC = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def sqlite_probe():
    from voxpop import settings as settings_module
    from voxpop.app import create_app

    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, VOXPOP_DATABASE_URL=f"sqlite:///{d}/probe.db")
        env.setdefault("VOXPOP_SECRET_KEY", "durability-probe-secret-key")
        settings = settings_module.load(env)
        app = create_app(settings)
        db = app.state.ctx.db
        with db.engine.connect() as conn:
            journal = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            sync = SYNC.get(conn.exec_driver_sql("PRAGMA synchronous").scalar(), "?")
        db.dispose()
    durable = sync in ("FULL", "EXTRA") or (journal != "wal" and sync != "OFF")
    setting = os.environ.get("VOXPOP_SQLITE_SYNCHRONOUS")
    note = f"SQLite journal_mode={journal.upper()}, synchronous={sync}"
    if setting is not None and setting.upper() != sync:
        note += f" (VOXPOP_SQLITE_SYNCHRONOUS={setting} was set and had no effect)"
    elif setting is not None:
        note += f" (VOXPOP_SQLITE_SYNCHRONOUS={setting})"
    if not durable:
        note += ": a commit survives a crash of the process, not a power loss or OS crash"
    return {"system": "voxpop-sqlite", "durable": durable, "note": note}


def pg_probe(url):
    import psycopg

    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        got = {
            k: conn.execute(f"SHOW {k}").fetchone()[0]
            for k in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
        }
    durable = (
        got["fsync"] == "on"
        and got["full_page_writes"] == "on"
        and got["synchronous_commit"] in ("on", "remote_write", "remote_apply")
    )
    note = "PostgreSQL " + ", ".join(f"{k}={v}" for k, v in got.items())
    if not durable:
        note += ": commits are not durable"
    return {"system": "voxpop-pg", "durable": durable, "note": note}


def isso_probe(path):
    conn = sqlite3.connect(path)
    try:
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = SYNC.get(conn.execute("PRAGMA synchronous").fetchone()[0], "?")
    finally:
        conn.close()
    note = (
        f"SQLite journal_mode={journal.upper()}, synchronous={sync} (SQLite's defaults: "
        "Isso sets neither)"
    )
    return {"system": "isso", "durable": sync in ("FULL", "EXTRA"), "note": note}


def main():
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind == "sqlite":
        out = sqlite_probe()
    elif kind == "pg" and len(sys.argv) == 3:
        out = pg_probe(sys.argv[2])
    elif kind == "isso" and len(sys.argv) == 3:
        out = isso_probe(sys.argv[2])
    else:
        raise SystemExit(__doc__.split("\n\n")[1])
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
