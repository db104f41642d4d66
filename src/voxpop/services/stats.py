"""What operators watch: queue gauges for ``/metrics`` and the readiness of a process.

Both are read at request time (a scrape, a load balancer's probe), so each part is one
cheap query; the one expensive fact, "the schema is at the current migration", is
established once and then remembered.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from voxpop.services.context import Context
from voxpop.store import stats as store

log = logging.getLogger("voxpop.readiness")

DATABASE = "database"
SCHEMA = "schema"
REDIS = "redis"


@dataclass(frozen=True, slots=True)
class Queues:
    outbox_pending: int
    outbox_oldest_seconds: float
    webhook_pending: int
    webhook_oldest_seconds: float


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def queues(ctx: Context) -> Queues | None:
    """Mail and webhook calls waiting, and how long the oldest due one has waited; None
    when the database does not answer."""
    now = ctx.clock()
    try:
        with ctx.db.read() as conn:
            mail = store.outbox_queue(conn, now)
            hooks = store.webhook_queue(conn, now)
    except SQLAlchemyError as exc:
        log.warning("queue gauges not read: the database does not answer (%s)", type(exc).__name__)
        return None
    return Queues(
        mail.pending, _age(now, mail.oldest_due), hooks.pending, _age(now, hooks.oldest_due)
    )


def replica_reads(ctx: Context) -> tuple[int, int] | None:
    """Thread pages read on the read replica, and those read on the primary instead
    (the replica behind or failing); None without a replica."""
    db = ctx.db
    if not getattr(db, "replica_url", None):
        return None
    return int(getattr(db, "replica_reads", 0)), int(getattr(db, "replica_fallbacks", 0))


class Readiness:
    """Whether this process can serve: the database answers, its schema is at the current
    migration (checked until it is, then remembered: a release migrates before it
    starts), and Redis answers a PING when ``VOXPOP_REDIS_URL`` is set. A change of the
    answer is logged (``voxpop.readiness``), not every probe."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._schema_ok = False
        self._head: str | None = None
        self._redis: Any = None
        self._lock = threading.Lock()
        self._last: dict[str, str] = {}

    def failures(self) -> list[str]:
        """The parts that are not ready (``database``, ``schema``, ``redis``); [] when
        all are."""
        why: dict[str, str] = {}
        try:
            with self.ctx.db.read() as conn:
                store.ping(conn)
        except SQLAlchemyError as exc:
            why[DATABASE] = f"the database does not answer ({type(exc).__name__})"
        if not why and not self._schema_ok:
            problem = self._schema_problem()
            if problem:
                why[SCHEMA] = problem
            else:
                self._schema_ok = True
        if self.ctx.settings.redis_url:
            problem = self._redis_problem()
            if problem:
                why[REDIS] = problem
        if why != self._last:
            if why:
                log.warning("not ready: %s", "; ".join(why.values()))
            else:
                log.info("ready")
            self._last = why
        return list(why)

    def _schema_problem(self) -> str:
        if self._head is None:
            from voxpop.store import migrate  # Alembic is slow to import: once, when asked

            self._head = migrate.head(self.ctx.db)
        try:
            with self.ctx.db.read() as conn:
                revisions = store.schema_revisions(conn)
        except SQLAlchemyError:
            revisions = set()
        if revisions != {self._head}:
            at = ", ".join(sorted(revisions)) or "no revision"
            return f"the schema is at {at}, not {self._head} (run voxpop migrate)"
        return ""

    def _redis_problem(self) -> str:
        import redis  # only when configured

        with self._lock:
            if self._redis is None:
                self._redis = redis.Redis.from_url(
                    self.ctx.settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
                )
            client = self._redis
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            return f"Redis does not answer ({type(exc).__name__})"
        return ""

    def close(self) -> None:
        with self._lock:
            if self._redis is not None:
                self._redis.close()
                self._redis = None
