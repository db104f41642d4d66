"""Crash safety: under a stream of comment writes the server is killed with SIGKILL,
restarted, and every comment that was acknowledged (201) is there, with its text.

A real ``voxpop serve`` (tests/procs.py) on a SQLite file and on the test PostgreSQL.
Eight writer threads, each its own reader, post comments with unique bodies to one
article; after a second and a half the whole process group is killed while requests are
in flight; the writers see their connections drop; the server is started again on the
same database, and the thread is read back. Three kill/restart cycles per test.

What a SIGKILL can take is only what was not acknowledged: a request whose connection
dropped may or may not have been committed (both are fine). The SQLite file runs WAL
with ``synchronous=FULL`` (VOXPOP_SQLITE_SYNCHRONOUS's default): a commit is fsynced
before the answer. A process crash is what is tested here; with ``normal`` a commit is in
the OS's page cache before the answer, which survives a process crash too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from .procs import Server, fresh_postgres

# Four server starts (5-13 s each on a busy 2-core machine) and three write phases.
pytestmark = pytest.mark.timeout(240)

SECRET = "crash-test-secret-key-0123456789abcdef"
URI = "/crash"
WRITERS = 8
CYCLES = 3
WRITE_SECONDS = 1.5
MIN_ACKED = 100  # per cycle: write longer (up to MAX_WRITE_SECONDS) until this many
MAX_WRITE_SECONDS = 10


@dataclass
class Backend:
    url: str
    sqlite_path: Path | None = None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "crash.db"
        yield Backend(f"sqlite:///{path}", path)
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    with fresh_postgres(postgres_url, "voxpop_crash") as url:
        yield Backend(url)


@dataclass
class Writer:
    """One reader posting comments until told to stop or its connection fails."""

    url: str
    name: str
    token: str | None = None
    acked: dict[int, str] = field(default_factory=dict)  # comment id -> body, 201 seen
    unsure: list[str] = field(default_factory=list)  # sent, answer lost to the kill
    unsent: int = 0  # refused connection: the server was gone already
    errors: list[str] = field(default_factory=list)  # anything else: a failure
    failed_at: float | None = None

    def run(self, cycle: int, stop: threading.Event) -> None:
        with httpx.Client(base_url=self.url, timeout=20) as client:
            n = 0
            while not stop.is_set():
                n += 1
                body = f"crash {self.name} cycle {cycle} #{n} {uuid.uuid4().hex}"
                headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
                try:
                    r = client.post(
                        "/api/v1/comments", json={"uri": URI, "body": body}, headers=headers
                    )
                except httpx.ConnectError:
                    self.unsent += 1
                    self.failed_at = time.monotonic()
                    return
                except httpx.TransportError:
                    self.unsure.append(body)
                    self.failed_at = time.monotonic()
                    return
                if r.status_code != 201:
                    self.errors.append(f"{r.status_code} {r.text[:300]}")
                    return
                data = r.json()
                self.acked[int(data["id"])] = body
                self.token = data["reader_token"]


def thread_html(url: str) -> dict[int, str]:
    """Every listed comment of the article, id -> html, read page by page."""
    found: dict[int, str] = {}
    cursor: str | None = None
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            params = {"uri": URI, "sort": "old", "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            r = client.get("/api/v1/comments", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            for item in page["items"]:
                assert not item["replies"]
                found[int(item["id"])] = item["html"]
            cursor = page["next_cursor"]
            if not cursor:
                return found


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path, timeout=30)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def test_acknowledged_comments_survive_sigkill(backend: Backend) -> None:
    env = {
        "VOXPOP_DATABASE_URL": backend.url,
        "VOXPOP_SECRET_KEY": SECRET,
        "VOXPOP_MODERATION": "none",  # every comment approved: listed in the thread
        "VOXPOP_MAIL_WORKER": "off",
    }
    server = Server(env, name="voxpop-crash")
    writers = [Writer(server.url, f"w{i}") for i in range(WRITERS)]
    acked: dict[int, str] = {}
    report: list[str] = []
    try:
        server.start()
        for cycle in range(1, CYCLES + 1):
            stop = threading.Event()
            before = {id(w): (len(w.acked), len(w.unsure), w.unsent) for w in writers}
            for w in writers:
                w.failed_at = None
            threads = [
                threading.Thread(target=w.run, args=(cycle, stop), name=w.name) for w in writers
            ]
            for t in threads:
                t.start()
            # Write for a while, and until enough were acknowledged even on a busy machine.
            deadline = time.monotonic() + MAX_WRITE_SECONDS
            time.sleep(WRITE_SECONDS)
            while (
                sum(len(w.acked) - before[id(w)][0] for w in writers) < MIN_ACKED
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            alive = sum(t.is_alive() for t in threads)
            killed_at = time.monotonic()
            wrote = killed_at - deadline + MAX_WRITE_SECONDS
            server.kill()
            stop.set()
            for t in threads:
                t.join(30)
            assert not any(t.is_alive() for t in threads), "a writer hangs after the kill"
            for w in writers:
                assert not w.errors, f"{w.name}: {w.errors}"
                assert w.failed_at is None or w.failed_at >= killed_at, (
                    f"{w.name} lost its connection before the kill:\n{server.tail()}"
                )
            new_acked = sum(len(w.acked) - before[id(w)][0] for w in writers)
            new_unsure = sum(len(w.unsure) - before[id(w)][1] for w in writers)
            new_unsent = sum(w.unsent - before[id(w)][2] for w in writers)
            assert alive == WRITERS, "writers stopped before the kill"
            # Not vacuous: writes were under way when the process died.
            assert new_acked >= MIN_ACKED, f"cycle {cycle}: only {new_acked} acknowledged"
            assert new_unsure >= 1, f"cycle {cycle}: no request was in flight at the kill"
            report.append(
                f"cycle {cycle}: {new_acked} acknowledged in {wrote:.1f} s, {new_unsure} in "
                f"flight at the kill, {new_unsent} refused after it"
            )

            restarted = time.monotonic()
            server.start()
            report[-1] += f"; restarted in {time.monotonic() - restarted:.1f} s"
            acked = {i: body for w in writers for i, body in w.acked.items()}
            listed = thread_html(server.url)
            lost = {i: body for i, body in acked.items() if i not in listed}
            assert not lost, (
                f"cycle {cycle}: {len(lost)} of {len(acked)} acknowledged comments are gone "
                f"after the restart, e.g. {sorted(lost.items())[:5]}"
            )
            wrong = {
                i: (body, listed[i]) for i, body in acked.items() if listed[i] != f"<p>{body}</p>"
            }
            assert not wrong, f"cycle {cycle}: comments with other text: {list(wrong.items())[:5]}"
            texts = set(listed.values())
            cut = [body for w in writers for body in w.unsure[before[id(w)][1] :]]
            committed = sum(f"<p>{body}</p>" in texts for body in cut)
            report[-1] += f"; {committed} of the {len(cut)} in flight had been committed"
            if backend.sqlite_path is not None:
                assert integrity(backend.sqlite_path) == "ok"

        # The database takes writes after the last restart, and the new one is listed.
        with httpx.Client(base_url=server.url, timeout=20) as client:
            r = client.post("/api/v1/comments", json={"uri": URI, "body": "after the crashes"})
            assert r.status_code == 201, r.text
            fresh = int(r.json()["id"])
            r = client.get(f"/api/v1/comments/{fresh}")
            assert r.status_code == 200 and r.json()["html"] == "<p>after the crashes</p>"
        listed = thread_html(server.url)
        assert fresh in listed and acked.keys() <= listed.keys()
        server.stop()
        if backend.sqlite_path is not None:
            assert integrity(backend.sqlite_path) == "ok"
        print("\n" + "\n".join(report))
    finally:
        server.cleanup()
