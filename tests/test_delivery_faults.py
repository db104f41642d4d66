"""The outbox under faults: an SMTP outage, a worker killed mid-batch, workers in parallel.

Real parts only: aiosmtpd as the SMTP server, ``voxpop worker`` processes started and
killed with signals, the database of the run (SQLite file or PostgreSQL).

What "exactly once" can mean over SMTP: the server's 250 reply and our commit of "sent"
are two systems, so a worker killed between them sends that one mail again when its rows
are claimed anew. Such a copy carries the same Message-ID (derived from the outbox row),
which is how receivers recognise it. The crash test therefore asserts: every mail
arrives; no recipient ever gets two *different* mails for one event; copies of one mail
are rare (at most the mails in flight at the kill). Without a crash — an outage, or two
workers sharing the outbox — each mail arrives exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop.services.delivery import Mailer, MailerThread
from voxpop.store.db import Database
from voxpop.store.schema import subscribers, subscriptions

from .conftest import SECRET, AppFactory, post, rows
from .smtp import Inbox

CONNECTIONS = 4


def seed_subscribers(database: Database, article_id: int, count: int) -> list[str]:
    """``count`` confirmed addresses subscribed to the whole thread of an article."""
    now = datetime.now(UTC)
    emails = [f"reader{i}@example.org" for i in range(count)]
    with database.engine.begin() as conn:
        conn.execute(
            sa.insert(subscribers),
            [
                {"email": e, "language": "en", "confirmed_at": now, "created_at": now}
                for e in emails
            ],
        )
        ids = dict(
            conn.execute(
                sa.select(subscribers.c.email, subscribers.c.id).where(
                    subscribers.c.email.in_(emails)
                )
            ).all()
        )
        conn.execute(
            sa.insert(subscriptions),
            [
                {
                    "subscriber_id": ids[e],
                    "article_id": article_id,
                    "scope": "thread",
                    "comment_id": 0,
                    "delivery": "instant",
                    "confirmed_at": now,
                    "created_at": now,
                }
                for e in emails
            ],
        )
    return emails


def article_with_subscribers(client: TestClient, database: Database, count: int) -> list[str]:
    assert post(client, body="The article's first comment").status_code == 201
    [(article_id,)] = rows(database, "SELECT id FROM articles WHERE uri = '/story'")
    return seed_subscribers(database, int(article_id), count)


def outbox_status(database: Database) -> Counter[str]:
    found = rows(database, "SELECT status, count(*) FROM outbox GROUP BY status")
    return Counter({str(status): int(n) for status, n in found})


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def expected_events(database: Database) -> dict[int, tuple[str, int]]:
    """outbox row id → (recipient, comment id) of every notification decided."""
    found = rows(
        database,
        "SELECT o.id, s.email, o.comment_id FROM outbox o "
        "JOIN subscribers s ON s.id = o.subscriber_id WHERE o.kind = 'notify'",
    )
    return {int(i): (str(e), int(c)) for i, e, c in found}


def check_delivery(inbox: Inbox, events: dict[int, tuple[str, int]]) -> int:
    """Every decided mail arrived, to its recipient, and no recipient got two different
    mails for one event. Returns how many exact copies arrived (same Message-ID)."""
    seen: dict[tuple[str, int], set[str]] = defaultdict(set)
    ids: Counter[str] = Counter()
    for mail in inbox.messages:
        row = int(mail.message_id.split(".")[2].split("@")[0])
        recipient, comment = events[row]
        assert mail.to == [recipient]
        seen[(recipient, comment)].add(mail.message_id)
        ids[mail.message_id] += 1
    copies = sum(n - 1 for n in ids.values())
    assert set(seen) == set(events.values()), "some mails never arrived"
    assert all(len(v) == 1 for v in seen.values()), "a recipient got two different mails"
    return copies


def worker(database: Database, inbox: Inbox, tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VOXPOP_ENV": "dev",
        "VOXPOP_DATABASE_URL": database.url,
        "VOXPOP_SECRET_KEY": SECRET,
        "VOXPOP_PUBLIC_URL": "http://testserver",
        "VOXPOP_SMTP_URL": inbox.url,
        "VOXPOP_SMTP_CONNECTIONS": str(CONNECTIONS),
        "VOXPOP_MAIL_LEASE": "6",
        "VOXPOP_SMTP_TIMEOUT": "1",
        "VOXPOP_MAIL_POLL": "0.1",
        "VOXPOP_MAIL_RETRY_BASE": "0.2",
    }
    with (tmp_path / f"{name}.log").open("wb") as log:  # the child keeps its own copy
        return subprocess.Popen(
            [sys.executable, "-m", "voxpop.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_an_smtp_outage_delays_mail_but_loses_and_doubles_none(
    make_client: AppFactory, database: Database
) -> None:
    inbox = Inbox()  # not listening yet: the SMTP server is down
    client = make_client(
        smtp_url=inbox.url, moderation="none", mail_retry_base="0.1", mail_poll="0.1"
    )
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.clock = lambda: datetime.now(UTC)  # real time: backoff has to pass
    emails = article_with_subscribers(client, database, 20)
    thread = MailerThread(Mailer(ctx))
    thread.start()
    ctx.mail_wakeup = thread.wake
    try:
        for i in range(5):
            assert post(client, body=f"Comment {i} during the outage").status_code == 201
        tried = "SELECT count(*) FROM outbox WHERE last_error IS NOT NULL AND status = 'queued'"
        wait_until(lambda: rows(database, tried)[0][0] == 100, 15, "the worker to try every mail")
        assert inbox.messages == []
        errors = rows(database, "SELECT DISTINCT last_error FROM outbox")
        assert all("Connect" in e or "refused" in e for (e,) in errors), errors
        inbox.start()
        inbox.wait_for(100, timeout=30)
        wait_until(lambda: outbox_status(database)["sent"] == 100, 15, "every row marked sent")
        time.sleep(0.5)  # anything sent twice would arrive now
    finally:
        thread.stop()
        inbox.stop()
    assert check_delivery(inbox, expected_events(database)) == 0
    assert len(inbox.messages) == 100
    assert {m.to[0] for m in inbox.messages} == set(emails)


def test_a_worker_killed_mid_batch_loses_nothing(
    make_client: AppFactory, database: Database, tmp_path: Path
) -> None:
    inbox = Inbox().start()
    inbox.before_accept = lambda _to: time.sleep(0.01)  # a slow server: the kill lands mid-batch
    client = make_client(smtp_url=inbox.url, moderation="none")
    article_with_subscribers(client, database, 150)
    for i in range(2):
        post(client, body=f"Comment {i}")
    events = expected_events(database)
    assert len(events) == 300
    first = worker(database, inbox, tmp_path, "first")
    try:
        wait_until(lambda: len(inbox.messages) >= 60, 30, "the first mails")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = len(inbox.messages)
        assert at_kill < 300, "the worker finished before it was killed"
        assert outbox_status(database)["queued"] > 0
        second = worker(database, inbox, tmp_path, "second")
        try:
            wait_until(lambda: outbox_status(database)["queued"] == 0, 60, "the outbox to drain")
            time.sleep(0.5)
        finally:
            stop(second)
    finally:
        stop(first)
        inbox.stop()
    copies = check_delivery(inbox, events)
    # In flight at the kill: a mail on each connection, and those accepted while the last
    # group of "sent" records was being committed.
    assert copies <= 2 * CONNECTIONS, f"{copies} copies: more than were in flight at the kill"
    print(f"mails sent again after the kill (same Message-ID): {copies}")
    assert outbox_status(database)["sent"] == 300


def test_workers_in_parallel_never_send_a_mail_twice(
    make_client: AppFactory, database: Database, tmp_path: Path
) -> None:
    inbox = Inbox().start()
    client = make_client(smtp_url=inbox.url, moderation="none")
    article_with_subscribers(client, database, 100)
    for i in range(3):
        post(client, body=f"Comment {i}")
    events = expected_events(database)
    procs = [worker(database, inbox, tmp_path, f"w{i}") for i in range(3)]
    try:
        wait_until(lambda: outbox_status(database)["sent"] == 300, 60, "every mail sent")
        time.sleep(0.5)
    finally:
        for p in procs:
            stop(p)
        inbox.stop()
    assert check_delivery(inbox, events) == 0
    assert len(inbox.messages) == 300


def test_a_stopped_worker_hands_back_what_it_had_not_sent(
    make_client: AppFactory, database: Database, tmp_path: Path
) -> None:
    inbox = Inbox().start()
    inbox.before_accept = lambda _to: time.sleep(0.02)
    client = make_client(smtp_url=inbox.url, moderation="none")
    article_with_subscribers(client, database, 150)
    post(client, body="A comment for 150 readers")
    proc = worker(database, inbox, tmp_path, "stopped")
    try:
        wait_until(lambda: len(inbox.messages) >= 20, 30, "the first mails")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        stop(proc)
        inbox.stop()
    status = outbox_status(database)
    assert status["queued"] > 0, "the worker sent everything before it was stopped"
    held = "SELECT count(*) FROM outbox WHERE status = 'queued' AND claimed_by IS NOT NULL"
    assert rows(database, held) == [(0,)]  # nothing left waiting for a lease to run out
    assert status["sent"] == len(inbox.messages)
