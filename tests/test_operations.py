"""Operations: Prometheus metrics, readiness and draining, JSON logs.

Through HTTP against the real app on SQLite and PostgreSQL; the logs also from real
``voxpop`` processes (``worker --once``, ``serve``) reading their stderr.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from voxpop.app import create_app
from voxpop.errors import ConfigurationError
from voxpop.settings import load
from voxpop.settings.logs import JsonFormatter, log_config
from voxpop.store.db import Database
from voxpop.web.metrics import BUCKETS, MeasureRequests, Registry, mark_draining

from .conftest import SECRET, AppFactory, build_settings, post, rows

TOKEN = "metrics-token-for-the-tests-0123"

# -- a strict reader of the text exposition format 0.0.4 -------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"'
_SAMPLE = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>{_LABEL}(?:,{_LABEL})*)\}})? "
    r"(?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:e[-+]?[0-9]+)?|Inf)|NaN)$"
)
_HELP = re.compile(rf"^# HELP (?P<name>{_NAME}) (?P<text>.+)$")
_TYPE = re.compile(rf"^# TYPE (?P<name>{_NAME}) (?P<kind>counter|gauge|histogram|summary|untyped)$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, dict[str, str], float]


class Exposition:
    def __init__(self, text: str) -> None:
        assert text.endswith("\n")
        self.kinds: dict[str, str] = {}
        self.helps: dict[str, str] = {}
        self.samples: list[Sample] = []
        family = ""
        for line in text.splitlines():
            if m := _HELP.match(line):
                assert m["name"] not in self.helps, f"second HELP: {line}"
                self.helps[m["name"]] = m["text"]
                family = m["name"]
            elif m := _TYPE.match(line):
                assert m["name"] == family and m["name"] not in self.kinds, line
                self.kinds[m["name"]] = m["kind"]
            else:
                m = _SAMPLE.match(line)
                assert m, f"not a sample line: {line!r}"
                name = m["name"]
                suffixes = (
                    ("_bucket", "_sum", "_count") if self.kinds[family] == "histogram" else ()
                )
                assert name == family or name in {family + s for s in suffixes}, line
                labels = dict(_PAIR.findall(m["labels"] or ""))
                self.samples.append((name, labels, float(m["value"])))
        assert self.kinds.keys() == self.helps.keys()

    def value(self, name: str, **labels: str) -> float:
        found = [v for n, ls, v in self.samples if n == name and labels.items() <= ls.items()]
        assert len(found) == 1, (name, labels, found)
        return found[0]

    def series(self, name: str) -> list[dict[str, str]]:
        return [ls for n, ls, _ in self.samples if n == name]


def scrape(client: TestClient) -> Exposition:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return Exposition(r.text)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client(metrics_token=TOKEN, moderation="none")


def histogram_count(exp: Exposition, method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return exp.value("voxpop_http_request_duration_seconds_count", **labels)


# -- /metrics --------------------------------------------------------------------------------


def test_metrics_parse_and_count_requests_by_route_template(client: TestClient) -> None:
    comment_id = post(client).json()["id"]
    for _ in range(3):
        assert client.get(f"/api/v1/comments/{comment_id}").status_code == 200
    assert client.get("/api/v1/comments/999999").status_code == 404
    assert client.get("/no/such/page").status_code == 404

    exp = scrape(client)

    assert exp.kinds["voxpop_http_request_duration_seconds"] == "histogram"
    template = "/api/v1/comments/{comment_id}"
    assert histogram_count(exp, "GET", template, "2xx") == 3
    assert histogram_count(exp, "GET", template, "4xx") == 1
    assert histogram_count(exp, "POST", "/api/v1/comments", "2xx") == 1
    assert histogram_count(exp, "GET", "other", "4xx") == 1
    routes = {ls["route"] for ls in exp.series("voxpop_http_request_duration_seconds_count")}
    assert routes == {template, "/api/v1/comments", "other"}  # never a raw path
    # Every series: buckets in order of their bounds, cumulative, +Inf last and = _count.
    for labels in exp.series("voxpop_http_request_duration_seconds_count"):
        buckets = [
            (ls["le"], v)
            for n, ls, v in exp.samples
            if n == "voxpop_http_request_duration_seconds_bucket"
            and {k: ls[k] for k in labels} == labels
        ]
        assert [le for le, _ in buckets] == [str(b) for b in BUCKETS] + ["+Inf"]
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)
        assert counts[-1] == exp.value("voxpop_http_request_duration_seconds_count", **labels)
        assert exp.value("voxpop_http_request_duration_seconds_sum", **labels) > 0
    # The scrape itself is in flight while it is answered, and counted once it is done.
    assert exp.value("voxpop_http_requests_in_flight") == 1
    assert histogram_count(scrape(client), "GET", "/metrics", "2xx") == 1
    assert exp.value("voxpop_build_info", version="0.1.0") == 1
    assert exp.value("voxpop_sse_connections") == 0
    assert exp.value("voxpop_draining") == 0
    assert exp.value("voxpop_database_up") == 1
    assert 0 < exp.value("process_start_time_seconds") <= time.time()
    assert exp.value("process_cpu_seconds_total") > 0
    if sys.platform == "linux":
        assert exp.value("process_resident_memory_bytes") > 1_000_000
        assert exp.value("process_open_fds") >= 3


def test_unexpected_errors_count_as_server_errors(client: TestClient) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    client.app.add_api_route("/boom/{n}", boom)  # type: ignore[attr-defined]
    plain = TestClient(client.app, raise_server_exceptions=False)
    assert plain.get("/boom/1").status_code == 500
    assert histogram_count(scrape(client), "GET", "/boom/{n}", "5xx") == 1


def test_cached_thread_reads_answered_before_routing_are_counted(client: TestClient) -> None:
    post(client)
    routed: list[str] = []
    router = client.app.router  # type: ignore[attr-defined]
    inner = router.middleware_stack

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        routed.append(scope["path"])
        await inner(scope, receive, send)

    router.middleware_stack = spy
    for _ in range(4):
        r = client.get("/api/v1/comments?uri=/story")
        assert r.status_code == 200 and len(r.json()["items"]) == 1

    # The first read built the page through the route; the others came from the cache.
    assert routed == ["/api/v1/comments"]
    assert histogram_count(scrape(client), "GET", "/api/v1/comments", "2xx") == 4


def test_queue_gauges_count_what_waits_and_how_long(make_client: AppFactory) -> None:
    client = make_client(
        metrics_token=TOKEN,
        moderation="none",
        webhook_url="http://127.0.0.1:9/hook",
        webhook_secret="a-webhook-secret-for-tests",
    )
    exp = scrape(client)
    assert exp.value("voxpop_outbox_pending") == 0
    assert exp.value("voxpop_webhook_pending") == 0
    assert exp.value("voxpop_outbox_oldest_pending_seconds") == 0

    assert post(client).status_code == 201  # a webhook call
    for email in ("a@example.org", "b@example.org"):  # a confirmation mail each
        r = client.post(
            "/api/v1/subscriptions", json={"uri": "/story", "email": email, "scope": "thread"}
        )
        assert r.status_code == 202, r.text
    client.clock.advance(seconds=90)  # type: ignore[attr-defined]

    exp = scrape(client)
    queued_mail = rows(client.database, "SELECT count(*) FROM outbox WHERE status = 'queued'")  # type: ignore[attr-defined]
    queued_calls = rows(
        client.database,  # type: ignore[attr-defined]
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'queued'",
    )
    assert exp.value("voxpop_outbox_pending") == queued_mail[0][0] == 2
    assert exp.value("voxpop_webhook_pending") == queued_calls[0][0] >= 1
    assert 90 <= exp.value("voxpop_outbox_oldest_pending_seconds") < 91
    assert 90 <= exp.value("voxpop_webhook_oldest_pending_seconds") < 91


def test_replica_reads_are_counted(postgres_db: Database) -> None:
    """With a read replica (here the primary itself, which is always up to date), thread
    pages built from it are counted; without one the counters are not shown."""
    url = postgres_db.url
    db = Database(url)
    app = create_app(
        build_settings(url, metrics_token=TOKEN, moderation="none", database_replica_url=url),
        db=db,
        migrate_on_start=False,
    )
    try:
        with TestClient(app) as client:
            post(client)
            assert client.get("/api/v1/comments?uri=/story&sort=new").status_code == 200
            exp = scrape(client)
            assert exp.value("voxpop_replica_reads_total") >= 1
            assert exp.value("voxpop_replica_fallbacks_total") == 0
    finally:
        db.dispose()


def test_no_replica_no_replica_counters(client: TestClient) -> None:
    assert scrape(client).series("voxpop_replica_reads_total") == []


def test_a_mail_due_later_is_pending_but_not_late(client: TestClient) -> None:
    r = client.post(
        "/api/v1/subscriptions", json={"uri": "/story", "email": "a@example.org", "scope": "thread"}
    )
    assert r.status_code == 202
    with client.database.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            sa.text("UPDATE outbox SET due_at = :later"),
            {"later": datetime(2999, 1, 1)},
        )
    exp = scrape(client)
    assert exp.value("voxpop_outbox_pending") == 1
    assert exp.value("voxpop_outbox_oldest_pending_seconds") == 0


def test_metrics_need_the_token_when_one_is_set(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_without_a_token_only_loopback_clients_get_metrics(make_client: AppFactory) -> None:
    remote = make_client()  # the test client's address is "testclient", not loopback
    r = remote.get("/metrics")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "not_found"
    for host in ("127.0.0.1", "::1"):
        local = TestClient(remote.app, client=(host, 40000))
        assert local.get("/metrics").status_code == 200
        # Through a proxy on the same host, the client is somebody else.
        assert local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404


def test_operations_endpoints_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths and "/readyz" not in paths and "/healthz" not in paths


def test_event_streams_are_counted_apart_from_request_latency() -> None:
    registry = Registry()
    seen: list[int] = []

    async def stream(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/event-stream; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        seen.append(registry.in_flight)  # during the stream
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.disconnect"}

    import asyncio

    scope = {"type": "http", "method": "GET", "path": "/api/v1/events", "headers": []}
    asyncio.run(MeasureRequests(stream, registry)(scope, receive, send))

    assert len(sent) == 3  # passed on as they came, not buffered
    assert seen == [0]
    assert registry.in_flight == 0
    assert registry.streams == 1
    assert registry.series == {}


# -- /readyz ---------------------------------------------------------------------------------


def not_ready(r: Any) -> list[str]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "not_ready" and body["status"] == 503
    failed: list[str] = body["failed"]
    assert all(part in body["detail"] for part in failed)
    return failed


def test_ready_when_the_database_answers_at_the_current_schema(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready"}
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/healthz").json() == {"status": "ok"}  # liveness stays


def test_not_ready_until_the_schema_is_at_head(client: TestClient) -> None:
    db = client.database  # type: ignore[attr-defined]
    (head,) = rows(db, "SELECT version_num FROM alembic_version")[0]
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        assert not_ready(client.get("/readyz")) == ["schema"]
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert client.get("/readyz").status_code == 200


def test_not_ready_and_no_queue_gauges_when_the_database_fails(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "v.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    app = create_app(build_settings(db.url, metrics_token=TOKEN), db=db, migrate_on_start=False)
    client = TestClient(app)
    assert client.get("/readyz").status_code == 200
    db.engine.dispose()
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(b"this is not a database file " * 200)
    try:
        assert not_ready(client.get("/readyz")) == ["database"]
        exp = scrape(client)
        assert exp.value("voxpop_database_up") == 0
        assert exp.series("voxpop_outbox_pending") == []
    finally:
        db.dispose()


def test_ready_needs_redis_when_configured(make_client: AppFactory, redis_url: str) -> None:
    assert make_client(redis_url=redis_url).get("/readyz").status_code == 200
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, never listening: connections are refused
        client = make_client(redis_url=f"redis://127.0.0.1:{closed}/0")
        assert not_ready(client.get("/readyz")) == ["redis"]


def test_draining_makes_readiness_fail(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    mark_draining(client.app)  # type: ignore[arg-type]
    assert not_ready(client.get("/readyz")) == ["draining"]
    assert scrape(client).value("voxpop_draining") == 1
    assert client.get("/healthz").status_code == 200  # alive, just not taking new work


def test_the_app_drains_when_its_lifespan_ends(make_client: AppFactory) -> None:
    client = make_client()
    with client:
        assert client.get("/readyz").status_code == 200
    assert client.app.state.operations.draining  # type: ignore[attr-defined]


# -- logs ------------------------------------------------------------------------------------

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def formatted(record: logging.LogRecord) -> dict[str, Any]:
    line = JsonFormatter().format(record)
    assert "\n" not in line
    out: dict[str, Any] = json.loads(line)
    return out


def test_json_log_lines_carry_the_fields_and_extras() -> None:
    logger = logging.getLogger("voxpop.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "voxpop.test",
            logging.ERROR,
            __file__,
            1,
            "sent %d mails\nto %s",
            (3, "x"),
            sys.exc_info(),
            extra={"outbox_id": 7, "when": datetime(2026, 1, 2), "where": Path("/x")},
        )
    data = formatted(record)
    assert RFC3339_UTC.match(data["ts"])
    assert data["level"] == "error"
    assert data["logger"] == "voxpop.test"
    assert data["msg"] == "sent 3 mails\nto x"
    assert data["exc"].startswith("Traceback") and "ValueError: boom" in data["exc"]
    assert data["outbox_id"] == 7 and data["when"] == "2026-01-02T00:00:00"
    assert data["where"] == "/x"  # what JSON cannot hold, as text


def test_json_access_lines_leave_out_the_client_address() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("203.0.113.9:51234", "GET", "/unsubscribe?token=abc.def&x=1", "1.1", 200),
        None,
    )
    data = formatted(record)
    assert "203.0.113.9" not in json.dumps(data)
    assert data["method"] == "GET" and data["status"] == 200
    assert data["path"] == "/unsubscribe?token=[redacted]&x=1"
    assert data["msg"] == "GET /unsubscribe?token=[redacted]&x=1 HTTP/1.1 200"


def test_log_config_routes_uvicorn_through_the_formatter() -> None:
    config = log_config("json", server_level="WARNING")
    assert config["formatters"]["default"]["()"] == "voxpop.settings.logs.JsonFormatter"
    assert config["loggers"]["uvicorn.error"]["level"] == "WARNING"
    assert config["loggers"]["uvicorn.access"]["level"] == "INFO"
    assert config["root"]["handlers"] == ["default"]
    assert "()" not in log_config("text")["formatters"]["default"]


def test_a_bad_log_format_is_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        load(environ={"VOXPOP_LOG_FORMAT": "xml", "VOXPOP_SECRET_KEY": "x" * 32})
    assert "VOXPOP_LOG_FORMAT" in info.value.detail
    assert "text or json" in info.value.detail
    assert load(environ={"VOXPOP_LOG_FORMAT": "JSON"}).log_format == "json"


def _env(tmp_path: Path, sqlite_template: Path, **extra: str) -> dict[str, str]:
    shutil.copy(sqlite_template, tmp_path / "v.db")
    return {
        **os.environ,
        "VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path}/v.db",
        "VOXPOP_SECRET_KEY": SECRET,
        "VOXPOP_LOG_FORMAT": "json",
        **extra,
    }


def _voxpop(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxpop.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= line.keys(), line
        assert RFC3339_UTC.match(line["ts"])
    return lines


def test_the_worker_logs_json_lines(tmp_path: Path, sqlite_template: Path) -> None:
    env = _env(tmp_path, sqlite_template)
    db = Database(env["VOXPOP_DATABASE_URL"])
    app = create_app(load(environ=env), db=db, migrate_on_start=False)
    with TestClient(app) as client:
        body = {"uri": "/story", "email": "reader@example.org", "scope": "thread"}
        assert client.post("/api/v1/subscriptions", json=body).status_code == 202
    db.dispose()

    done = _voxpop("worker", "--once", env={**env, "VOXPOP_MAIL_WORKER": "off"})

    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr)
    assert any(
        line["logger"] == "voxpop.mail" and "reader@example.org" in line["msg"] for line in lines
    )
    assert any(line["msg"].startswith("sent 1,") for line in lines)


def test_check_config_refuses_a_bad_log_format(tmp_path: Path, sqlite_template: Path) -> None:
    done = _voxpop("check-config", env=_env(tmp_path, sqlite_template, VOXPOP_LOG_FORMAT="xml"))
    assert done.returncode == 2
    assert "VOXPOP_LOG_FORMAT" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = _free_port()
    env = _env(tmp_path, sqlite_template, VOXPOP_METRICS_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxpop.cli", "serve", "--port", str(port), "--access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/readyz", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_server_logs_json_without_client_addresses(
    server: tuple[subprocess.Popen[str], str],
) -> None:
    proc, base = server
    with pytest.raises(urllib.error.HTTPError) as refused:  # a link altered: 400
        urllib.request.urlopen(base + "/unsubscribe?token=secret-link-token", timeout=5)
    refused.value.close()
    request = urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        text = r.read().decode()
    assert 'route="/readyz",status="2xx"' in text

    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)

    # uvicorn ends as the signal would have ended it: killed by SIGTERM (systemd and
    # container runtimes count that as a clean stop), after its graceful shutdown.
    assert proc.returncode in (0, -signal.SIGTERM), stderr
    lines = json_lines(stderr)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert {line["path"] for line in access} >= {"/readyz", "/unsubscribe?token=[redacted]"}
    assert "127.0.0.1:" not in stderr.replace(base, "")  # no client address anywhere
    assert "secret-link-token" not in stderr
    assert any(line["logger"] == "voxpop.cli" and "serving" in line["msg"] for line in lines)


def test_observations_fall_into_inclusive_buckets() -> None:
    registry = Registry()
    for seconds in (1e-7, 0.001, 0.0011, 12.0):
        registry.observe("GET", "/x", 200, seconds)
    exp = Exposition("\n".join(registry.render()) + "\n")
    labels = {"method": "GET", "route": "/x", "status": "2xx"}
    bucket = "voxpop_http_request_duration_seconds_bucket"
    assert exp.value(bucket, le="0.001", **labels) == 2  # a bound counts as within
    assert exp.value(bucket, le="0.0025", **labels) == 3
    assert exp.value(bucket, le="10.0", **labels) == 3
    assert exp.value(bucket, le="+Inf", **labels) == 4
    assert exp.value("voxpop_http_request_duration_seconds_sum", **labels) == pytest.approx(12.0021)
