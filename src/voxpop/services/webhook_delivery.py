"""Sending webhook calls: the outbox workers' second duty (``delivery.Mailer`` runs a
``Dispatcher`` in each pass, beside the mail).

A worker claims due ``webhook_deliveries`` rows under the mail lease, POSTs each body as
it was stored, signed with its site's secret (one URL's calls one after the other, in the
order of their events; several URLs at once), and records the outcome:

- a 2xx answer: ``sent``;
- 408, 429, 5xx, a refused or reset connection, a timeout: tried again after an
  exponential backoff with jitter (30 s, doubling, at most six hours apart; a 429's
  ``Retry-After`` is honoured), ``MAX_ATTEMPTS`` attempts in all (about a day), then
  ``failed``;
- any other answer (a 4xx, a redirect, which is never followed): ``failed`` at once.

Once a URL fails to answer in a pass, the pass's other calls to it are not made but
counted as failed the same way (a receiver that is down costs one timeout per pass, not
one per event). Calls are made at least once: a worker that dies after the receiver
answered but before recording it makes that call again after its lease, with the same
event ``id``.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import random
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from urllib.parse import urlsplit

from sqlalchemy.engine import Connection

from voxpop import __version__
from voxpop.model import Site
from voxpop.services.context import Context
from voxpop.services.webhooks import signature
from voxpop.store import webhooks as store

log = logging.getLogger("voxpop.webhooks")

TIMEOUT = 10.0  # seconds per network step: connecting, sending, waiting for the answer
BUDGET = 2 * TIMEOUT  # the longest one call may take, all steps together
RETRY_BASE = 30.0
MAX_BACKOFF = 6 * 3600.0
MAX_ATTEMPTS = 14  # 30 s, 1, 2, 4 … min, then six-hourly: about a day in all
CONCURRENCY = 4  # URLs called at once per worker (threads of the loop's default executor)
MAX_READ = 1024  # bytes of an answer read (the start of an error page, for the log)
USER_AGENT = f"voxpop/{__version__}"


@dataclass
class Tally:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0

    def add(self, other: Tally) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # the HTTP status; None: no answer (connection error, timeout)
    error: str | None  # what went wrong, short, for the log; None on a 2xx
    retry_after: float | None = None


def backoff(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: doubled each time, jittered, capped."""
    delay: float = min(MAX_BACKOFF, RETRY_BASE * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not a secret


def verdict(status: int | None) -> str:
    """``sent``, ``retry`` or ``failed`` for an answer's status (None: no answer)."""
    if status is not None and 200 <= status < 300:
        return store.SENT
    if status is None or status in (408, 429) or status >= 500:
        return "retry"
    return store.FAILED


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _printable(raw: bytes | str, limit: int = 200) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:limit]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {TIMEOUT:.0f} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return _printable(f"{type(exc).__name__}: {exc}", 300)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT) -> Answer:
    """POST ``body`` to ``url`` (blocking; no proxy, no redirects followed)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=_tls()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = response.read(MAX_READ)
        status = response.status
        if 200 <= status < 300:
            return Answer(status, None)
        if 300 <= status < 400:
            where = _printable(response.getheader("Location") or "?")
            return Answer(status, f"HTTP {status}: redirects are not followed (to {where})")
        after = response.getheader("Retry-After") or ""
        retry_after = float(after) if after.strip().isdigit() else None
        text = _printable(excerpt)
        return Answer(status, f"HTTP {status}" + (f": {text}" if text else ""), retry_after)
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, _describe(exc))
    finally:
        conn.close()


class Dispatcher:
    """One worker's webhook side. ``drain_once`` makes the calls due now."""

    def __init__(self, ctx: Context, worker: str) -> None:
        self.ctx = ctx
        self.worker = worker
        # (site id, URL) → the site: whose secret signs a row, and whether it is still wanted.
        self.targets: dict[tuple[int | None, str], Site] = {
            (site.id, site.webhook_url): site for site in ctx.sites.values() if site.webhook_url
        }

    async def drain_once(self, batch: int, stop: asyncio.Event | None = None) -> Tally:
        tally = Tally()
        ctx = self.ctx
        s = ctx.settings
        now = ctx.clock()

        def due() -> bool:
            with ctx.db.read() as conn:
                return store.any_due(conn, now)

        if not await asyncio.to_thread(due):
            return tally  # an idle worker writes nothing
        # A call starts only while it can finish well inside the lease (as a mail does).
        last_start = time.monotonic() + s.mail_lease - BUDGET - max(1.0, s.mail_lease / 10)
        until = now + timedelta(seconds=s.mail_lease)
        claimed = await ctx.db.transact_async(
            lambda conn: store.claim(conn, self.worker, now, until, batch)
        )
        tally.claimed = len(claimed)
        # One URL's calls one after the other, in the order of their events; several
        # URLs at once.
        by_url: dict[str, list[store.Claimed]] = {}
        for row in claimed:
            by_url.setdefault(row.url, []).append(row)
        slots = asyncio.Semaphore(CONCURRENCY)
        late: list[int] = []
        down: dict[str, str] = {}  # URLs that did not answer in this pass → why

        async def one_url(rows: list[store.Claimed]) -> None:
            async with slots:
                for row in rows:
                    if (stop is not None and stop.is_set()) or time.monotonic() > last_start:
                        late.append(row.id)
                    else:
                        await self._call(row, tally, down)

        await asyncio.gather(*(one_url(rows) for rows in by_url.values()))
        if late:  # handed back untried
            await ctx.db.transact_async(lambda conn: store.release(conn, late, self.worker))
            tally.claimed -= len(late)
        return tally

    async def _call(self, row: store.Claimed, tally: Tally, down: dict[str, str]) -> None:
        site = self.targets.get((row.site_id, row.url))
        if site is None:
            answer = Answer(
                None,
                "not called: this worker knows no webhook with this URL for the site (the "
                "URL changed, or the worker is configured differently)",
            )
            await self._record(row, store.FAILED, answer, tally)
            return
        if row.url in down:
            answer = Answer(None, f"not called: {down[row.url]} moments before")
        else:
            body = row.payload.encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Voxpop-Event": row.event,
                "X-Voxpop-Delivery": str(row.id),
                "X-Voxpop-Signature": signature(site.webhook_secret, body),
                "Connection": "close",
            }
            try:
                answer = await asyncio.wait_for(
                    asyncio.to_thread(post, row.url, body, headers), BUDGET
                )
            except TimeoutError:
                answer = Answer(None, f"no answer within {BUDGET:.0f} s")
            if answer.status is None and answer.error:
                down[row.url] = answer.error
        outcome = verdict(answer.status)
        if outcome == "retry" and row.attempts >= MAX_ATTEMPTS:
            outcome = store.FAILED
        await self._record(row, outcome, answer, tally)

    async def _record(self, row: store.Claimed, outcome: str, answer: Answer, tally: Tally) -> None:
        now = self.ctx.clock()
        due: datetime | None = None
        status = outcome
        if outcome == "retry":
            wait = max(backoff(row.attempts), min(answer.retry_after or 0.0, MAX_BACKOFF))
            due = now + timedelta(seconds=wait)
            status = store.QUEUED
            tally.retried += 1
            log.info(
                "webhook %d will be tried again (attempt %d): %s",
                row.id,
                row.attempts,
                answer.error,
            )
        elif outcome == store.SENT:
            tally.sent += 1
        else:
            tally.failed += 1
            log.warning(
                "webhook %d to %s failed after %d attempt(s): %s",
                row.id, row.url, row.attempts, answer.error,
            )  # fmt: skip

        def txn(conn: Connection) -> bool:
            return store.finish(
                conn,
                row.id,
                self.worker,
                status=status,
                now=now,
                response_status=answer.status,
                error=answer.error,
                due=due,
            )

        try:
            kept = await self.ctx.db.transact_async(txn)
        except Exception:  # the row is called again once the lease runs out
            log.exception("recording webhook %d failed", row.id)
            return
        if not kept:
            log.warning("webhook %d was called after its lease had passed", row.id)

    async def prune(self, before: datetime) -> int:
        """Delete calls finished (sent or failed) before ``before``."""
        total = 0
        while True:
            gone = await self.ctx.db.transact_async(lambda conn: store.prune(conn, before))
            total += gone
            if gone < 1000:
                return total
