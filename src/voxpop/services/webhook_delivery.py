"""Sending webhook calls: the outbox workers' second duty (``delivery.Mailer`` runs a
``Dispatcher`` in a loop of its own, beside the mail's).

A worker claims due ``webhook_deliveries`` rows of the sites it has a webhook for, under
the mail lease, POSTs each body as it was stored to the site's webhook URL as the worker
knows it, signed with the site's secret (one site's calls one after the other, in the
order of their events; several sites at once, on the dispatcher's own threads), and
records the outcome:

- a 2xx answer: ``sent``;
- 408, 429, 5xx, a refused or reset connection, a timeout (``TIMEOUT`` per step, and
  ``BUDGET`` for the whole call, after which the connection is cut): tried again after
  an exponential backoff with jitter (30 s, doubling, at most six hours apart; a 429's
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
import contextlib
import http.client
import logging
import random
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, partial
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
CONCURRENCY = 4  # sites called at once per worker (the dispatcher's own threads)
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


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    return _printable(f"{type(exc).__name__}: {exc}", 300)


def shown(url: str) -> str:
    """``url`` fit for a log line: without its query, fragment and user:password (a
    receiver may take its token there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _Watchdog:
    """Ends a call when its budget runs out, whatever it is doing.

    The socket's timeout is per step (each connect, send or read): a receiver that sends
    a byte now and then would hold a call, and its thread, for ever. When the budget is
    spent, the watchdog shuts the connection's socket down from its timer thread, which
    makes the blocked read or write (or TLS handshake) return at once. The lock keeps it
    from touching a socket the call has closed meanwhile (its descriptor may be reused).
    """

    def __init__(self, budget: float) -> None:
        self.deadline = time.monotonic() + budget
        self.fired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self._timer = threading.Timer(budget, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection under the watchdog (each address tried for at most the per-step
        timeout, and never past the deadline)."""
        wait = min(timeout, self.deadline - time.monotonic())
        if wait <= 0:
            raise TimeoutError("the budget ran out")
        sock = socket.create_connection((host, port), wait)
        sock.settimeout(timeout)
        self.watch(sock)
        return sock

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` off when the budget runs out (it replaces the socket watched so far,
        as a TLS socket replaces the TCP one it wraps)."""
        with self._lock:
            self._sock = sock
            if self.fired:
                raise TimeoutError("the budget ran out")

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):  # the plain socket's: TLS state untouched
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def finish(self) -> None:
        """The call is over: the timer may no longer touch the socket, which is closed."""
        self._timer.cancel()
        with self._lock:
            self._done = True
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def _open(conn: http.client.HTTPConnection, watchdog: _Watchdog, tls: bool) -> None:
    """Connect ``conn`` under ``watchdog`` (``http.client`` would connect by itself, out of
    its reach), the TLS handshake included."""
    raw = watchdog.connect(conn.host, conn.port, TIMEOUT if conn.timeout is None else conn.timeout)
    if not tls:
        conn.sock = raw
        return
    wrapped = _tls().wrap_socket(raw, server_hostname=conn.host, do_handshake_on_connect=False)
    watchdog.watch(wrapped)
    wrapped.do_handshake()
    conn.sock = wrapped


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float | None = None,
    budget: float | None = None,
) -> Answer:
    """POST ``body`` to ``url`` (blocking; no proxy, no redirects followed). Each step
    waits at most ``timeout`` seconds (``TIMEOUT``), and the whole call ends within
    ``budget`` (``BUDGET``): then the connection is cut, whatever the receiver does. (Only
    resolving the host name is left to the system resolver's own timeouts.)"""
    timeout = TIMEOUT if timeout is None else timeout
    budget = BUDGET if budget is None else budget
    parts = urlsplit(url)
    tls = parts.scheme == "https"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=_tls()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    watchdog = _Watchdog(budget)
    try:
        _open(conn, watchdog, tls)
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        if watchdog.fired:  # cut off in the middle of the headers
            raise TimeoutError("the budget ran out")
        status = response.status
        try:
            excerpt = response.read(MAX_READ)
        except (OSError, http.client.HTTPException):
            excerpt = b""  # the status is the answer; the text is only for the log
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
        if watchdog.fired:
            return Answer(None, f"no complete answer within {budget:g} s: cut off")
        return Answer(None, _describe(exc, timeout))
    finally:
        watchdog.finish()
        conn.close()


class Dispatcher:
    """One worker's webhook side. ``drain_once`` makes the calls due now.

    It takes only the calls of sites it has a webhook for, and makes each to the site's
    webhook as this worker knows it now (its URL and secret): a call queued before the
    URL changed goes to the new one (the row keeps the URL it was queued for); the calls
    of a site whose webhook was removed stay queued for a worker that has one. Calls run
    on the dispatcher's own threads (``CONCURRENCY`` of them), never on the event loop's
    default executor that the mail and the database use; ``close`` ends them.
    """

    def __init__(self, ctx: Context, worker: str) -> None:
        self.ctx = ctx
        self.worker = worker
        # site id → the site: where its calls go now, and whose secret signs them.
        self.sites: dict[int, Site] = {
            site.id: site for site in ctx.sites.values() if site.webhook_url
        }
        self._pool: ThreadPoolExecutor | None = None

    def _threads(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="voxpop-webhook")
        return self._pool

    async def close(self) -> None:
        """Let the calls under way end (each within its budget) and stop the threads."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)

    async def drain_once(self, batch: int, stop: asyncio.Event | None = None) -> Tally:
        tally = Tally()
        if not self.sites:
            return tally  # a worker without webhooks leaves every call to one that has
        ctx = self.ctx
        s = ctx.settings
        now = ctx.clock()
        site_ids = sorted(self.sites)

        def due() -> bool:
            with ctx.db.read() as conn:
                return store.any_due(conn, now, site_ids)

        if not await asyncio.to_thread(due):
            return tally  # an idle worker writes nothing
        # A call starts only while it can finish well inside the lease (as a mail does).
        last_start = time.monotonic() + s.mail_lease - BUDGET - max(1.0, s.mail_lease / 10)
        until = now + timedelta(seconds=s.mail_lease)
        claimed = await ctx.db.transact_async(
            lambda conn: store.claim(conn, self.worker, now, until, batch, site_ids)
        )
        tally.claimed = len(claimed)
        # One site's calls one after the other, in the order of their events; several
        # sites at once.
        by_site: dict[int | None, list[store.Claimed]] = {}
        for row in claimed:
            by_site.setdefault(row.site_id, []).append(row)
        slots = asyncio.Semaphore(CONCURRENCY)
        late: list[int] = []
        down: dict[str, str] = {}  # URLs that did not answer in this pass → why

        async def one_site(rows: list[store.Claimed]) -> None:
            async with slots:
                for row in rows:
                    if (stop is not None and stop.is_set()) or time.monotonic() > last_start:
                        late.append(row.id)
                    else:
                        await self._call(row, tally, down)

        await asyncio.gather(*(one_site(rows) for rows in by_site.values()))
        if late:  # handed back untried
            await ctx.db.transact_async(lambda conn: store.release(conn, late, self.worker))
            tally.claimed -= len(late)
        return tally

    async def _call(self, row: store.Claimed, tally: Tally, down: dict[str, str]) -> None:
        site = self.sites.get(row.site_id) if row.site_id is not None else None
        if site is None:  # claimed only for the sites above: cannot happen; hand it back
            await self.ctx.db.transact_async(
                lambda conn: store.release(conn, [row.id], self.worker)
            )
            tally.claimed -= 1
            return
        url = site.webhook_url
        if url in down:
            answer = Answer(None, f"not called: {down[url]} moments before")
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
            loop = asyncio.get_running_loop()
            call = partial(post, url, body, headers, TIMEOUT, BUDGET)
            try:
                # ``post`` ends within its budget; the margin only covers a resolver
                # that hangs (the thread then ends when the resolver gives up).
                answer = await asyncio.wait_for(
                    loop.run_in_executor(self._threads(), call), BUDGET + 5
                )
            except TimeoutError:
                answer = Answer(None, f"no answer within {BUDGET:g} s")
            if answer.status is None and answer.error:
                down[url] = answer.error
        outcome = verdict(answer.status)
        if outcome == "retry" and row.attempts >= MAX_ATTEMPTS:
            outcome = store.FAILED
        await self._record(row, url, outcome, answer, tally)

    async def _record(
        self, row: store.Claimed, url: str, outcome: str, answer: Answer, tally: Tally
    ) -> None:
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
                row.id, shown(url), row.attempts, answer.error,
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
            log.warning(
                "webhook %d was called after its lease had passed (or was erased meanwhile)",
                row.id,
            )

    async def prune(self, before: datetime) -> int:
        """Delete calls finished (sent or failed) before ``before``."""
        total = 0
        while True:
            gone = await self.ctx.db.transact_async(lambda conn: store.prune(conn, before))
            total += gone
            if gone < 1000:
                return total
