"""Live updates: what readers of an article see change while they read it.

A change a reader may see (a comment made visible, edited or taken away, a vote, a
rating) writes a row into the ``events`` log in the change's own transaction, so nothing
is announced that did not commit, and nothing unapproved is announced at all. Each server
process runs one ``Hub``: it numbers committed rows (PostgreSQL, see ``store.events``),
reads the rows after the last it has seen with ONE query however many readers are
connected, and hands each to the streams of its article. With ``VOXPOP_REDIS_URL`` a
process that committed rings the others through Redis pub/sub (the message is only a
doorbell: the rows come from the database, in order, so a lost message delays and never
loses an event); without Redis, processes look every second while they have streams.
A reconnecting stream sends the number of the last event it saw and gets what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from anyio import to_thread
from sqlalchemy.engine import Connection

from voxpop.model import Comment, CommentStatus, RatingTally, Site
from voxpop.services import inputs
from voxpop.services.context import Context
from voxpop.services.shapes import comment as comment_shape
from voxpop.services.shapes import tally as tally_shape
from voxpop.store import articles as article_store
from voxpop.store import events as event_store

log = logging.getLogger("voxpop.events")

CHANNEL = "voxpop:events"
KEEP = timedelta(days=1)  # how long a reconnecting reader can catch up
REPLAY_MAX = 500  # more missed than this: the reader is told to reload (``reset``)
QUEUE_MAX = 1000  # a stream this far behind is closed; its reader reconnects and replays
PING_SECONDS = 25.0
POLL_SECONDS = 1.0  # without Redis, while streams are open
SWEEP_SECONDS = 5.0  # with Redis, or to number rows a crashed process left unnumbered
PRUNE_SECONDS = 600.0
PRUNE_BATCH = 5000
BATCH = 500


# ---- written in the change's transaction ---------------------------------------------


def _add(ctx: Context, conn: Connection, article_id: int, kind: str, data: Any, **kw: Any) -> None:
    event_store.add(conn, article_id, kind, orjson.dumps(data).decode(), ctx.clock(), **kw)


def comment_shown(ctx: Context, conn: Connection, comment: Comment) -> None:
    """A comment everyone can now see (posted approved, or approved by a moderator)."""
    if comment.status is not CommentStatus.APPROVED:
        return
    data = comment_shape(comment)
    if comment.parent_id is not None:
        data["depth"] = None  # unknown here; the reader's widget places it
    _add(ctx, conn, comment.article_id, "comment", data, comment_id=comment.id)


def comment_edited(ctx: Context, conn: Connection, comment: Comment) -> None:
    """A visible comment's text changed: announced, and its earlier rows restated (a
    replay shows only the current text)."""
    if comment.status is not CommentStatus.APPROVED:
        return
    data = comment_shape(comment)
    if comment.parent_id is not None:
        data["depth"] = None
    event_store.restate(conn, comment.id, orjson.dumps(data).decode())
    _add(ctx, conn, comment.article_id, "edit", data, comment_id=comment.id)


def comment_removed(ctx: Context, conn: Connection, article_id: int, comment_id: int) -> None:
    """A comment readers could see is gone from their view (deleted, hidden, held): its
    earlier rows become tombstones, so that a replay never shows it again."""
    event_store.tombstone(conn, comment_id)
    _add(ctx, conn, article_id, "remove", {"id": comment_id}, comment_id=comment_id)


def comment_changed(
    ctx: Context, conn: Connection, before: CommentStatus, after: Comment | None
) -> None:
    """After a change of status: announce what readers see change, and nothing else."""
    if after is None:
        return
    was = before is CommentStatus.APPROVED
    now = after.status is CommentStatus.APPROVED
    if now and not was:
        comment_shown(ctx, conn, after)
    elif was and not now:
        comment_removed(ctx, conn, after.article_id, after.id)


def votes(
    ctx: Context, conn: Connection, article_id: int, comment_id: int, up: int, down: int
) -> None:
    data = {"id": comment_id, "votes": {"up": up, "down": down}}
    _add(ctx, conn, article_id, "vote", data, comment_id=comment_id)


def rating(ctx: Context, conn: Connection, article_id: int, tally: RatingTally) -> None:
    _add(ctx, conn, article_id, "rating", tally_shape(tally))


def forget(conn: Connection, comment_ids: list[int]) -> None:
    """Erasure: the log keeps nothing of these comments (their rows become tombstones)."""
    for comment_id in comment_ids:
        event_store.tombstone(conn, comment_id)


def path(uri: str) -> str:
    """The article's normalised path (422 when it is not one)."""
    return inputs.uri(uri)


def article_id(ctx: Context, site: Site, path: str) -> int | None:
    """The article's id (None: no comment yet, nothing to replay)."""
    with ctx.db.read() as conn:
        found = article_store.get(conn, site.id, path)
    return None if found is None else found.id


# ---- read by each process: the hub ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    kind: str
    data: str  # JSON

    def encode(self) -> bytes:
        return f"id: {self.seq}\nevent: {self.kind}\ndata: {self.data}\n\n".encode()


CLOSE = Event(0, "", "")  # put into a stream's queue: end the stream


@dataclass(eq=False)
class Stream:
    key: tuple[int, str]  # (site id, uri)
    floor: int  # the hub's last number when the stream opened: later ones come queued
    sent: int = 0  # the highest number sent to the reader
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX + 1))

    ended: bool = False
    counted: bool = True  # still counted in the hub's connections

    def offer(self, event: Event) -> None:
        """Queue the event; a stream that has fallen too far behind is ended (its reader
        reconnects and replays from its last event)."""
        if self.ended:
            return
        if self.queue.qsize() >= QUEUE_MAX:
            self.end()
            return
        self.queue.put_nowait(event)

    def end(self) -> None:
        """Ask the stream to finish. Never fails: events stop at QUEUE_MAX, leaving the
        queue's last place for this."""
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(CLOSE)


class Hub:
    """One per server process: numbers, reads and fans out the event log."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.connections = 0
        self.closing = False
        self.last = 0  # the highest number handed to the streams (or seen, with none open)
        self._streams: dict[tuple[int, str], set[Stream]] = {}
        self._bell: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wrote = False
        self._stopped = False
        self._redis: Any = None
        self._postgres = not ctx.db.is_sqlite

    # lifecycle

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._bell = asyncio.Event()
        self.last = await to_thread.run_sync(self._read_last)
        self._tasks.append(asyncio.create_task(self._run(), name="voxpop-events"))
        if self.ctx.settings.redis_url:
            self._tasks.append(asyncio.create_task(self._listen(), name="voxpop-events-redis"))

    def drain(self) -> None:
        """Shutting down: end every stream (its reader reconnects to another process and
        resumes from its last event) and take no new ones."""
        if self.closing:
            return
        self.closing = True
        for streams in self._streams.values():
            for stream in streams:
                stream.end()

    async def stop(self) -> None:
        self.drain()
        self._stopped = True
        if self._bell is not None:
            self._bell.set()
        for task in self._tasks:
            task.cancel()
        # Never hang a shutdown on them (Python 3.11's wait_for can swallow a cancel).
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        self._tasks.clear()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    # called after a commit that wrote events (any thread)

    def written(self) -> None:
        loop, bell = self._loop, self._bell
        if loop is None or bell is None:
            return
        self._wrote = True
        with contextlib.suppress(RuntimeError):  # the loop has closed
            loop.call_soon_threadsafe(bell.set)

    # streams

    def open(self, site_id: int, uri: str, after: int | None = None) -> Stream:
        """A new stream of the article; ``after``: the last event its reader has (a
        reconnect), so that nothing up to it is sent again."""
        stream = Stream((site_id, uri), floor=self.last, sent=max(self.last, after or 0))
        self._streams.setdefault(stream.key, set()).add(stream)
        self.connections += 1
        if self.closing:
            stream.end()
        return stream

    def close(self, stream: Stream) -> None:
        streams = self._streams.get(stream.key)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.key]
        if stream.counted:
            stream.counted = False
            self.connections -= 1

    async def replay(self, article_id: int | None, after: int) -> list[Event] | None:
        """What the stream missed after ``after``, or None when it cannot be told (the log
        no longer reaches back that far, or was reset): the reader should reload."""

        def read() -> tuple[tuple[int, int], list[Any]]:
            with self.ctx.db.read() as conn:
                span = event_store.bounds(conn)
                if article_id is None:
                    return span, []
                return span, list(event_store.of_article(conn, article_id, after, REPLAY_MAX + 1))

        (low, high), rows = await to_thread.run_sync(read)
        if after > high or (low and after < low - 1) or len(rows) > REPLAY_MAX:
            return None
        return [Event(int(r.seq), r.kind, r.data) for r in rows]

    # the loop

    def _read_last(self) -> int:
        with self.ctx.db.read() as conn:
            return event_store.last(conn)

    def _sequence(self, swept: bool = False) -> int:
        """Number what is committed unnumbered (PostgreSQL). ``swept``: a timed look, not
        a known write: asked first on a read connection, so that an idle process takes no
        write transaction and no advisory lock every few seconds."""
        if swept:
            with self.ctx.db.read() as conn:
                if not event_store.unsequenced(conn):
                    return 0
        numbered = 0
        while True:
            with self.ctx.db.write() as conn:
                done = event_store.sequence(conn, BATCH)
            numbered += done
            if done < BATCH:
                return numbered

    def _read(self, after: int) -> list[Any]:
        with self.ctx.db.read() as conn:
            return list(event_store.since(conn, after, BATCH))

    def _prune(self) -> int:
        def txn(conn: Connection) -> int:
            return event_store.prune(conn, self.ctx.clock() - KEEP, PRUNE_BATCH)

        pruned = 0
        while True:  # in batches, each its own short transaction
            done = int(self.ctx.db.transact(txn))
            pruned += done
            if done < PRUNE_BATCH:
                return pruned

    async def _run(self) -> None:
        assert self._bell is not None
        next_sweep = next_prune = time.monotonic()
        while not self._stopped:
            wait = SWEEP_SECONDS
            if self._streams and not self.ctx.settings.redis_url:
                wait = POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bell.wait(), wait)
            self._bell.clear()
            if self._stopped:
                return
            try:
                now = time.monotonic()
                if self._postgres and (self._wrote or now >= next_sweep):
                    swept = not self._wrote
                    self._wrote = False
                    next_sweep = now + SWEEP_SECONDS
                    numbered = await to_thread.run_sync(self._sequence, swept)
                    if numbered > 0:
                        await self._ring()
                elif self._wrote:
                    self._wrote = False
                    await self._ring()
                if now >= next_prune:
                    next_prune = now + PRUNE_SECONDS
                    await to_thread.run_sync(self._prune)
                await self._fan_out()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next turn
                log.warning("live updates: %s", exc)
                await asyncio.sleep(1.0)

    async def _fan_out(self) -> None:
        versions = self.ctx.versions
        if not self._streams and versions is not None and versions.file_backed:
            # Nobody to tell: only keep up with the numbering (for the next stream's
            # floor), with one cheap read on the loop instead of the rows in a thread.
            self.last = max(self.last, versions.last_event())
            return
        while True:
            rows = await to_thread.run_sync(self._read, self.last)
            for row in rows:
                event = Event(int(row.seq), row.kind, row.data)
                for stream in list(self._streams.get((row.site_id, row.uri), ())):
                    if event.seq > stream.floor:
                        stream.offer(event)
                self.last = max(self.last, event.seq)
            if len(rows) < BATCH:
                return

    # Redis: a doorbell between processes

    async def _ring(self) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.publish(CHANNEL, b"1")
        except Exception as exc:
            log.warning("live updates: Redis publish failed (others look within %ss): %s",
                        SWEEP_SECONDS, exc)  # fmt: skip

    async def _listen(self) -> None:
        import redis.asyncio as aioredis  # only when configured

        assert self._bell is not None
        self._redis = aioredis.Redis.from_url(
            self.ctx.settings.redis_url, socket_connect_timeout=2, health_check_interval=30
        )
        delay = 0.5
        while not self._stopped:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                delay = 0.5
                self._bell.set()  # catch up on what rang while away
                while not self._stopped:
                    message = await pubsub.get_message(timeout=SWEEP_SECONDS * 2)
                    if message is not None:
                        self._bell.set()
                    else:  # quiet: make sure the connection still lives
                        await asyncio.wait_for(pubsub.ping(), 5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live updates: Redis subscription lost (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def follow(hub: Hub, stream: Stream, missed: list[Event] | None) -> AsyncIterator[bytes]:
    """The bytes of one event stream: what was missed, then what happens, until the reader
    leaves, the process shuts down or the reader falls too far behind."""
    yield b"retry: 3000\n\n"
    if missed is None:  # with an id: the reader's next reconnect starts from here
        yield f"id: {stream.sent}\nevent: reset\ndata: {{}}\n\n".encode()
    else:
        for event in missed:
            stream.sent = event.seq
            yield event.encode()
    while True:
        try:
            event = await asyncio.wait_for(stream.queue.get(), PING_SECONDS)
        except TimeoutError:
            yield b": ping\n\n"
            continue
        if event is CLOSE:
            yield b"retry: 500\n\n"
            return
        if event.seq <= stream.sent:
            continue
        stream.sent = event.seq
        yield event.encode()
