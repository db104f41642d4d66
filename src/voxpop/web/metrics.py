"""Operations: Prometheus ``GET /metrics``, readiness ``GET /readyz`` and draining.

Request metrics are counted by :class:`MeasureRequests`, a pure ASGI middleware that wraps
everything (the cached-thread fast path too): it reads a clock twice and adds to one
histogram series per request, and passes messages through unbuffered. A response of
Server-Sent Events (``text/event-stream``) leaves the latency histogram and the in-flight
gauge the moment it starts: streams are counted apart (``voxpop_sse_streams_total``, and
the live hub's ``voxpop_sse_connections``).

Labels are bounded: ``route`` is the matched route's template (``/api/v1/comments/
{comment_id}``), ``other`` when nothing matched; ``method`` is one of the HTTP methods the
API uses or ``other``; ``status`` is the class (``2xx``), ``none`` when the client left
before any answer.

Queue depths and process facts are read when scraped. Each process counts its own
requests: scrape every server process (one per port), not a load balancer in front of
them.

Draining: :func:`mark_draining` makes ``/readyz`` answer 503, so that a load balancer
stops sending this process traffic. The app calls it the moment SIGTERM (or SIGINT)
arrives under uvicorn, which at the same time stops accepting connections and lets the
requests in flight finish, and again when its lifespan ends.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import sys
import time
from bisect import bisect_left
from time import perf_counter
from typing import Any

from fastapi import APIRouter, Request
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxpop import __version__
from voxpop.services import stats
from voxpop.services.context import Context
from voxpop.web.api import json_response
from voxpop.web.fastpath import PATH as FAST_PATH
from voxpop.web.problems import problem

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLASSES = ("none", "1xx", "2xx", "3xx", "4xx", "5xx")
_SERIES = len(BUCKETS) + 2  # a count per bucket, the +Inf bucket, then the sum
_EVENT_STREAM = b"text/event-stream"
HISTOGRAM = "voxpop_http_request_duration_seconds"


class Registry:
    """This process's request metrics. Touched only on the event loop's thread (the
    middleware and the async scrape), so it needs no lock.

    A series is kept per (method, route object, status code) — what the middleware has
    at hand; the route by its ``id`` (routes live as long as the app and do not hash) —
    and labelled with the route's template and the status class when first seen.
    """

    def __init__(self) -> None:
        # (method, id of the route, status) → per-bucket counts (not cumulative), the sum.
        self.series: dict[tuple[str, int, int], list[float]] = {}
        self.labels: dict[tuple[str, int, int], tuple[str, str, str]] = {}
        self.in_flight = 0
        self.streams = 0

    def observe(self, method: str, route: Any, status: int, seconds: float) -> None:
        key = (method, id(route), status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * _SERIES
            status_class = _CLASSES[status // 100] if status else "none"
            self.labels[key] = (method, _template(route), status_class)
        series[bisect_left(BUCKETS, seconds)] += 1
        series[-1] += seconds

    def histogram(self) -> dict[tuple[str, str, str], list[float]]:
        """The series by their labels (method, route template, status class)."""
        merged: dict[tuple[str, str, str], list[float]] = {}
        for key, series in list(self.series.items()):
            into = merged.setdefault(self.labels[key], [0.0] * _SERIES)
            for i, value in enumerate(series):
                into[i] += value
        return merged

    def render(self) -> list[str]:
        out = [
            f"# HELP {HISTOGRAM} Time from a request's arrival to the end of its answer, "
            "Server-Sent Events streams excepted.",
            f"# TYPE {HISTOGRAM} histogram",
        ]
        for (method, route, status), series in sorted(self.histogram().items()):
            labels = f'method="{method}",route="{_escape(route)}",status="{status}"'
            running = 0.0
            for bound, count in zip((*BUCKETS, "+Inf"), series[:-1], strict=True):
                running += count
                out.append(f'{HISTOGRAM}_bucket{{{labels},le="{bound}"}} {running:.0f}')
            out.append(f"{HISTOGRAM}_sum{{{labels}}} {series[-1]!r}")
            out.append(f"{HISTOGRAM}_count{{{labels}}} {running:.0f}")
        out += _family(
            "voxpop_http_requests_in_flight",
            "gauge",
            "Requests being answered now (Server-Sent Events streams excepted).",
            self.in_flight,
        )
        out += _family(
            "voxpop_sse_streams_total",
            "counter",
            "Server-Sent Events (text/event-stream) responses this process has started.",
            self.streams,
        )
        return out


def _template(route: Any) -> str:
    if isinstance(route, str):
        return route
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_: str, value: float, labels: str = "") -> list[str]:
    sample = f"{name}{{{labels}}}" if labels else name
    return [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{sample} {_number(value)}"]


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


class MeasureRequests:
    """Times every HTTP request into ``registry``; the outermost middleware."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        registry = self.registry
        registry.in_flight += 1
        started = perf_counter()
        status = 0
        stream = False

        async def send_measured(message: Message) -> None:
            nonlocal status, stream
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"content-type":
                        if value.startswith(_EVENT_STREAM):
                            stream = True
                            registry.in_flight -= 1
                            registry.streams += 1
                        break
            await send(message)

        try:
            await self.app(scope, receive, send_measured)
        except Exception:
            # Starlette's ServerErrorMiddleware, outside this one, answers it with a 500.
            status = status or 500
            raise
        finally:
            if not stream:
                registry.in_flight -= 1
                method = scope["method"]
                # The route the router matched (a template when rendered); the cached
                # thread read is answered before routing, by its one path.
                route = scope.get("route") or (FAST_PATH if scope["path"] == FAST_PATH else "other")
                registry.observe(
                    method if method in _METHODS else "other",
                    route,
                    status if 100 <= status < 600 else 0,
                    perf_counter() - started,
                )


# -- process facts (Linux /proc; elsewhere what `resource` and `os` give) -------------------


def _process_start() -> float:
    try:
        with open("/proc/self/stat", "rb") as f:
            ticks = int(f.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


_STARTED = _process_start()


def process_lines() -> list[str]:
    times = os.times()
    out = _family(
        "voxpop_build_info",
        "gauge",
        "The running voxpop's version and Python's (always 1).",
        1,
        f'version="{__version__}",python="{sys.version.split()[0]}"',
    )
    out += _family(
        "process_start_time_seconds", "gauge", "Start of the process (Unix time).", _STARTED
    )
    out += _family(
        "process_cpu_seconds_total",
        "counter",
        "CPU time the process has used, user and system.",
        times.user + times.system,
    )
    try:
        with open("/proc/self/statm", "rb") as f:
            size, resident = (int(v) for v in f.read().split()[:2])
        page = os.sysconf("SC_PAGE_SIZE")
        out += _family(
            "process_resident_memory_bytes", "gauge", "Resident memory.", resident * page
        )
        out += _family("process_virtual_memory_bytes", "gauge", "Virtual memory.", size * page)
        out += _family(
            "process_open_fds", "gauge", "Open file descriptors.", len(os.listdir("/proc/self/fd"))
        )
    except (OSError, ValueError):
        pass  # not Linux: no cheap current figures
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        out += _family("process_max_fds", "gauge", "Limit of open file descriptors.", soft)
    except (ImportError, OSError, ValueError):
        pass
    return out


# -- the endpoints ------------------------------------------------------------------------


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Operations:
    """``/metrics``, ``/readyz`` and the draining flag of one app."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.registry = Registry()
        self.readiness = stats.Readiness(ctx)
        self.draining = False
        self.router = APIRouter()
        self.router.add_api_route(
            "/metrics", self.metrics, methods=["GET"], include_in_schema=False
        )
        self.router.add_api_route("/readyz", self.readyz, methods=["GET"], include_in_schema=False)

    def _refusal(self, request: Request) -> Response | None:
        token = self.ctx.settings.metrics_token
        if token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), token.encode()
            ):
                return None
            return problem(
                401,
                "unauthorized",
                "Unauthorized",
                "Send the metrics token: Authorization: Bearer <VOXPOP_METRICS_TOKEN>",
                {"WWW-Authenticate": "Bearer"},
            )
        proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
        if request.client and _loopback(request.client.host) and not proxied:
            return None
        return problem(404, "not_found", "Not found", "Not found")

    async def metrics(self, request: Request) -> Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        lines = self.registry.render()  # on the loop's thread, where it is written
        lines += await run_in_threadpool(self._scraped_lines)
        return Response("\n".join(lines) + "\n", media_type=CONTENT_TYPE)

    def _scraped_lines(self) -> list[str]:
        events = getattr(self.ctx, "events", None)
        connections = getattr(events, "connections", 0)
        out = _family(
            "voxpop_sse_connections",
            "gauge",
            "Live-update (Server-Sent Events) clients connected to this process.",
            connections if isinstance(connections, int) else 0,
        )
        out += _family(
            "voxpop_draining", "gauge", "1 while the process shuts down.", int(self.draining)
        )
        queues = stats.queues(self.ctx)
        out += _family(
            "voxpop_database_up", "gauge", "1 when the database answered the scrape's queries.",
            int(queues is not None),
        )  # fmt: skip
        if queues is not None:
            out += _family(
                "voxpop_outbox_pending",
                "gauge",
                "Mails waiting to be sent (due now, or later for a retry).",
                queues.outbox_pending,
            )
            out += _family(
                "voxpop_outbox_oldest_pending_seconds",
                "gauge",
                "How long the oldest due, unsent mail has waited (0: none is due).",
                queues.outbox_oldest_seconds,
            )
            out += _family(
                "voxpop_webhook_pending",
                "gauge",
                "Webhook calls waiting to be made (due now, or later for a retry).",
                queues.webhook_pending,
            )
            out += _family(
                "voxpop_webhook_oldest_pending_seconds",
                "gauge",
                "How long the oldest due webhook call has waited (0: none is due).",
                queues.webhook_oldest_seconds,
            )
        replica = stats.replica_reads(self.ctx)
        if replica is not None:
            out += _family(
                "voxpop_replica_reads_total",
                "counter",
                "Thread pages this process read on the read replica.",
                replica[0],
            )
            out += _family(
                "voxpop_replica_fallbacks_total",
                "counter",
                "Thread pages read on the primary because the replica was behind or failing.",
                replica[1],
            )
        return out + process_lines()

    def readyz(self) -> Response:
        failed = ["draining"] if self.draining else self.readiness.failures()
        if not failed:
            return json_response({"status": "ready"}, headers={"Cache-Control": "no-store"})
        return problem(
            503,
            "not_ready",
            "Not ready",
            "Not ready: " + ", ".join(failed),
            {"Cache-Control": "no-store"},
            failed=failed,
        )

    def mark_draining(self) -> None:
        self.draining = True

    def close(self) -> None:
        self.readiness.close()


def mark_draining(app: Starlette) -> None:
    """From now on ``/readyz`` answers 503 (``failed: ["draining"]``), so that a load
    balancer sends this process no more traffic."""
    operations: Operations = app.state.operations
    operations.mark_draining()
