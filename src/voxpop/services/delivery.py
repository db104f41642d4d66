"""The outbox worker: claim due mails, render each from its template, send, record.

Decide → outbox → render → send. What to send was decided in the transaction of its
cause (``subscriptions.decide``); the worker only claims rows under a lease, renders them
from what the database says *now* (a comment removed meanwhile is not mailed; an address
that unsubscribed meanwhile gets nothing), sends them over a few concurrent SMTP
connections and records each as sent right after the server accepted it.
``services.compose`` reads and renders each mail.

Failures: a temporary one (4xx, connection refused, timeout) is tried again after an
exponential backoff with jitter; a permanent one (5xx) or too many attempts leave the row
``failed`` for an operator to see and retry. A worker killed at any point loses nothing
(its rows are claimed again when the lease runs out). SMTP has no way to make one
delivery atomic with our commit: a kill between the server's acceptance and the commit
sends that one mail again, with the same Message-ID, which is how receivers and tests
recognise it as the same mail.

Several workers may run at once (``voxpop worker`` processes, and one inside each
``voxpop serve`` unless ``VOXPOP_MAIL_WORKER=off``): claims never overlap. Each worker
also makes the webhook calls that are due (``services.webhook_delivery``), in a loop of
their own beside the mail's, on threads of their own: a slow receiver never holds a mail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.mail.senders import Sender, SendError, from_settings
from voxpop.services import access, privacy
from voxpop.services.compose import Batch, Composer, Skip, load
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.services.webhook_delivery import Dispatcher, Tally
from voxpop.store import audit as audit_store
from voxpop.store import outbox as outbox_store
from voxpop.store.outbox import Claimed

log = logging.getLogger("voxpop.mail")

BATCH = 200
PRUNE_EVERY = 600.0  # seconds between a worker's clean-ups of finished mail
MAX_BACKOFF = 6 * 3600.0


@dataclass
class Stats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    claimed: int = 0
    webhooks: Tally = field(default_factory=Tally)  # the webhook calls of the same pass

    def add(self, other: Stats) -> None:
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.dropped += other.dropped
        self.claimed += other.claimed
        self.webhooks.add(other.webhooks)


def send_budget(timeout: float) -> float:
    """The longest one send can take: each step gets what is left of ``timeout``, and
    the last (DATA) waits for two replies."""
    return 2 * timeout


def lease_margin(lease: float) -> float:
    """Slack kept at the end of a lease (slow commits, clocks of different hosts)."""
    return max(1.0, lease / 10)


def backoff(base: float, attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubled each time, jittered, capped."""
    delay: float = min(MAX_BACKOFF, base * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


class _SentRecorder:
    """Records sent mails right after the server accepted them: one UPDATE for all that
    were accepted while the previous one was being committed (group commit, as the
    database writer does for requests), so recording costs one round trip per group, not
    per mail, and the window in which a crash would send a mail again stays one commit."""

    def __init__(self, ctx: Context, worker: str) -> None:
        self.ctx = ctx
        self.worker = worker
        self._pending: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def sent(self, row_id: int) -> None:
        self._pending.append(row_id)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            ids, self._pending = self._pending, []
            record = partial(
                outbox_store.mark_sent, row_ids=ids, worker=self.worker, now=self.ctx.clock()
            )
            for attempt in range(5):  # a failed record would send these again after the lease
                try:
                    kept = await self.ctx.db.transact_async(record)
                    break
                except Exception:
                    log.exception(
                        "recording %d sent mail(s) failed (attempt %d)", len(ids), attempt + 1
                    )
                    await asyncio.sleep(0.2 * 2**attempt)
            else:
                continue
            if kept < len(ids):
                log.warning("%d mail(s) were sent after their lease had passed", len(ids) - kept)

    async def flushed(self) -> None:
        if self._task is not None:
            await self._task


class Mailer:
    """One worker. ``drain()`` sends everything due now (tests, ``voxpop worker --once``);
    ``run(stop)`` keeps at it until ``stop`` is set. The webhook calls (``self.hooks``)
    run beside the mail, never in its way."""

    def __init__(self, ctx: Context, sender: Sender | None = None, name: str | None = None) -> None:
        s = ctx.settings
        self.ctx = ctx
        self.sender = sender or from_settings(s.smtp_url, s.smtp_connections, s.smtp_timeout)
        self.name = name or f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(3)}"
        self.composer = Composer(ctx)
        self._wake: asyncio.Event | None = None
        self._hooks_wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._recorder = _SentRecorder(ctx, self.name)
        self.hooks = Dispatcher(ctx, self.name)
        self._pruned_at = -PRUNE_EVERY

    # -- the loop ------------------------------------------------------------------------

    def wake(self) -> None:
        """Thread-safe: look at the outbox now rather than at the next poll."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for event in (self._wake, self._hooks_wake):
                if event is not None:
                    loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Send mail and make webhook calls until ``stop`` is set: two loops side by side,
        so that mail never waits for a slow receiver, nor a call for a slow mail server."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._hooks_wake = asyncio.Event()
        self._stop = stop
        hooks = asyncio.ensure_future(self._run_hooks(stop, self._hooks_wake))
        try:
            await self._run_mail(stop, self._wake)
        finally:
            if not stop.is_set():  # cancelled: the calls under way are made again later
                hooks.cancel()
            await asyncio.gather(hooks, return_exceptions=True)  # ends once ``stop`` is set
            await self.hooks.close()
            await self.sender.close()

    async def _run_mail(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()  # before the pass: a wake during it is not lost
            try:
                stats = await self._mail_once(BATCH)
            except Exception:
                log.exception("outbox worker %s: a pass failed; trying again", self.name)
                stats = Stats()
            if stats.claimed < BATCH:
                await self._idle(stop, wake)

    async def _run_hooks(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                tally = await self.hooks.drain_once(BATCH, stop)
            except Exception:
                log.exception("outbox worker %s: a webhook pass failed; trying again", self.name)
                tally = Tally()
            if tally.claimed < BATCH:
                await self._idle(stop, wake)

    async def _idle(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        """Until the next poll, a wake, or ``stop``."""
        waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waiters, timeout=self.ctx.settings.mail_poll, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def drain(self, limit: int = 1_000_000) -> Stats:
        """Send every mail and make every webhook call due now (the two side by side, each
        until it finds nothing more); return what happened."""
        total = Stats()

        async def mail() -> None:
            while total.claimed < limit:
                stats = await self._mail_once(BATCH)
                total.add(stats)
                if stats.claimed == 0:
                    return

        async def hooks() -> None:
            while total.webhooks.claimed < limit:
                tally = await self.hooks.drain_once(BATCH, self._stop)
                total.webhooks.add(tally)
                if tally.claimed == 0:
                    return

        try:
            await asyncio.gather(mail(), hooks())
        finally:
            await self.hooks.close()
        return total

    async def drain_once(self, batch: int = BATCH) -> Stats:
        """One pass: the mail and the webhook calls due now, side by side."""
        mail, hooks = await asyncio.gather(
            self._mail_once(batch), self.hooks.drain_once(batch, self._stop)
        )
        mail.webhooks = hooks
        return mail

    async def _mail_once(self, batch: int) -> Stats:
        db = self.ctx.db
        s = self.ctx.settings
        await self._bundle()
        if time.monotonic() - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = time.monotonic()
            await self.prune()
            # The outbox worker is also where the service's other housekeeping runs.
            await asyncio.to_thread(privacy.forget_old_addresses, self.ctx)
        # The lease runs from ``now``, taken just before the claim. A send may start only
        # while it can finish (a send takes at most SEND_BUDGET timeouts) well inside the
        # lease: otherwise another worker could take the row and send it too.
        now = self.ctx.clock()
        last_start = time.monotonic() + s.mail_lease - send_budget(s.smtp_timeout)
        last_start -= lease_margin(s.mail_lease)
        until = now + timedelta(seconds=s.mail_lease)
        claimed = await db.transact_async(
            lambda conn: outbox_store.claim(conn, self.name, now, until, batch)
        )
        stats = Stats(claimed=len(claimed))
        if not claimed:
            return stats
        try:
            data = await asyncio.to_thread(load, self.ctx, claimed)
        except Exception as exc:  # the database failed us: every row is tried again later
            log.exception("outbox worker %s could not read a batch", self.name)
            for row in claimed:
                await self._failed(row, f"load: {type(exc).__name__}: {exc}", False, stats)
            return stats
        # As many at once as there are connections: a send never waits for one, so it
        # starts before ``last_start`` and ends within its budget.
        slots = asyncio.Semaphore(max(1, self.sender.connections))
        late: list[int] = []

        async def one(row: Claimed) -> None:
            async with slots:
                stopping = self._stop is not None and self._stop.is_set()
                if stopping or time.monotonic() > last_start:
                    late.append(row.id)
                else:
                    await self._deliver(row, data, stats)

        await asyncio.gather(*(one(row) for row in claimed))
        await self._recorder.flushed()
        if late:  # handed back at once (stopping, or too late to start a send)
            await db.transact_async(lambda conn: outbox_store.release(conn, late, self.name))
            stats.claimed -= len(late)
        return stats

    async def _bundle(self) -> None:
        """Make the daily digests that are due (a write only when some are)."""
        now = self.ctx.clock()

        def due() -> bool:
            with self.ctx.db.read() as conn:
                return outbox_store.digests_due(conn, now)

        if await asyncio.to_thread(due):
            await self.ctx.db.transact_async(lambda conn: outbox_store.bundle_digests(conn, now))

    async def prune(self) -> int:
        """Delete mail finished more than ``VOXPOP_MAIL_RETENTION`` days ago, and
        subscriptions whose confirmation link expired unused."""
        s = self.ctx.settings
        now = self.ctx.clock()
        before = now - timedelta(days=s.mail_retention)
        confirm_before = now - timedelta(seconds=s.confirm_ttl)
        total = await self.hooks.prune(before)  # webhook calls are kept as long
        while True:
            gone = await self.ctx.db.transact_async(
                lambda conn: outbox_store.prune(conn, before, confirm_before)
            )
            total += gone
            if gone < 1000:
                return total

    # -- one mail ------------------------------------------------------------------------

    async def _deliver(self, row: Claimed, data: Batch, stats: Stats) -> None:
        db = self.ctx.db
        try:
            to, payload = self.composer.compose(row, data)
        except Skip as skip:
            stats.dropped += 1
            why = str(skip)
            await db.transact_async(
                lambda conn: outbox_store.mark_dropped(conn, row.id, self.name, why)
            )
            return
        except Exception as exc:  # a template or data error: retrying will not help
            log.exception("outbox row %d could not be rendered", row.id)
            await self._failed(row, f"render: {type(exc).__name__}: {exc}", True, stats)
            return
        try:
            await self.sender.send(self.ctx.settings.mail_from, to, payload)
        except SendError as exc:
            await self._failed(row, str(exc), exc.permanent, stats)
            return
        stats.sent += 1
        await self._recorder.sent(row.id)

    async def _failed(self, row: Claimed, error: str, permanent: bool, stats: Stats) -> None:
        s = self.ctx.settings
        give_up = permanent or row.attempts >= s.mail_max_attempts
        due = (
            None
            if give_up
            else self.ctx.clock() + timedelta(seconds=backoff(s.mail_retry_base, row.attempts))
        )
        if give_up:
            stats.failed += 1
            log.warning(
                "mail %d failed for good after %d attempt(s): %s", row.id, row.attempts, error
            )
        else:
            stats.retried += 1
            log.info("mail %d will be tried again (attempt %d): %s", row.id, row.attempts, error)
        await self.ctx.db.transact_async(
            lambda conn: outbox_store.mark_retry(conn, row.id, self.name, error, due)
        )


class MailerThread:
    """The in-process worker of ``voxpop serve``: its own thread and event loop, so mail
    never competes with requests for the server's loop."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="voxpop-mailer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(5)

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self.mailer.run(self._stop)

        asyncio.run(main())

    def wake(self) -> None:
        self.mailer.wake()

    def stop(self, timeout: float = 10) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)


# -- operators --------------------------------------------------------------------------


def outbox(
    ctx: Context, actor: Actor, status: str | None, before: int | None, limit: int
) -> tuple[dict[str, int], list[Any]]:
    """Counts per status, and a page of rows (newest first) for the operators' view."""
    access.require(actor, "outbox.manage", None)
    if status is not None and status not in outbox_store.STATUSES:
        raise errors.ValidationFailed(
            f"status must be one of {', '.join(outbox_store.STATUSES)}", field="status"
        )
    with ctx.db.read() as conn:
        return outbox_store.counts(conn), outbox_store.listing(conn, status, before, limit)


def retry(ctx: Context, actor: Actor, row_ids: Sequence[int] | None) -> int:
    """Queue failed mails again (the given ones, or every failed one), due now."""
    access.require(actor, "outbox.manage", None)
    now = ctx.clock()

    def txn(conn: Connection) -> int:
        n = outbox_store.retry(conn, row_ids, now)
        audit_store.record(
            conn,
            now,
            actor.audit_name,
            "outbox.retry",
            "all failed" if row_ids is None else ",".join(map(str, row_ids))[:200],
            detail={"queued": n},
        )
        return n

    n = ctx.db.transact(txn)
    if n:
        ctx.wake_mailer()
    return n
