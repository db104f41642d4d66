"""voxpop.spam.akismet against a real local HTTP server playing Akismet. Never the network."""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voxpop.spam.akismet import THANKS, Akismet, AkismetComment

from .conftest import ADMIN, AppFactory, post, rows

KEY = "test-key-123"
BLOG = "https://news.example"


@dataclass
class Seen:
    path: str
    content_type: str
    user_agent: str
    form: dict[str, list[str]]


@dataclass
class FakeAkismet:
    """What the fake answers and what it received. ``mode``: "normal" (answers by the
    content: "viagra" is spam), "500", "slow" (sleeps 2 s, then answers), "garbage"."""

    mode: str = "normal"
    requests: list[Seen] = field(default_factory=list)
    url: str = ""


def make_handler(fake: FakeAkismet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def answer(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode("ascii")
            form = urllib.parse.parse_qs(raw, keep_blank_values=True, strict_parsing=True)
            fake.requests.append(
                Seen(
                    self.path,
                    self.headers.get("Content-Type", ""),
                    self.headers.get("User-Agent", ""),
                    form,
                )
            )
            if fake.mode == "500":
                self.answer(500, "internal error")
                return
            if fake.mode == "slow":
                time.sleep(2.0)
            if fake.mode == "garbage":
                self.answer(200, "<html>proxy error</html>")
                return
            if form.get("api_key") != [KEY] or form.get("blog") != [BLOG]:
                self.answer(
                    200, "invalid", {"X-akismet-debug-help": "We were unable to parse your key."}
                )
                return
            if self.path == "/1.1/verify-key":
                self.answer(200, "valid")
            elif self.path == "/1.1/comment-check":
                if "user_ip" not in form:
                    self.answer(200, "Missing required field: user_ip.")
                elif "viagra" in form.get("comment_content", [""])[0]:
                    self.answer(200, "true", {"X-akismet-pro-tip": "discard"})
                else:
                    self.answer(200, "false")
            elif self.path in ("/1.1/submit-spam", "/1.1/submit-ham"):
                self.answer(200, THANKS)
            else:
                self.answer(404, "not found")

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeAkismet]:
    state = FakeAkismet()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def client(fake: FakeAkismet, *, key: str = KEY, timeout: float = 3.0) -> Akismet:
    return Akismet(key, BLOG, endpoint=fake.url + "/", timeout=timeout)


COMMENT = AkismetComment(
    user_ip="203.0.113.7",
    user_agent="Mozilla/5.0 (X11; Linux x86_64)",
    referrer="https://news.example/",
    permalink="https://news.example/2026/bridge",
    comment_author="Jane Reader",
    comment_author_email="jane@example.org",
    comment_author_url="https://jane.example",
    comment_content="I disagree with the council & its plan: café prices = 3€ + tip",
    is_test=True,
)


def test_check_ham_sends_every_field_form_encoded(fake: FakeAkismet) -> None:
    assert client(fake).check(COMMENT) is False
    (seen,) = fake.requests
    assert seen.path == "/1.1/comment-check"
    assert seen.content_type.startswith("application/x-www-form-urlencoded")
    assert "voxpop" in seen.user_agent
    assert seen.form == {
        "api_key": [KEY],
        "blog": [BLOG],
        "user_ip": ["203.0.113.7"],
        "user_agent": ["Mozilla/5.0 (X11; Linux x86_64)"],
        "referrer": ["https://news.example/"],
        "permalink": ["https://news.example/2026/bridge"],
        "comment_type": ["comment"],
        "comment_author": ["Jane Reader"],
        "comment_author_email": ["jane@example.org"],
        "comment_author_url": ["https://jane.example"],
        # Non-ASCII and form metacharacters survive the encoding.
        "comment_content": ["I disagree with the council & its plan: café prices = 3€ + tip"],
        "blog_charset": ["UTF-8"],
        "is_test": ["1"],
    }


def test_check_spam(fake: FakeAkismet) -> None:
    spam = AkismetComment(user_ip="198.51.100.1", comment_content="buy viagra now")
    assert client(fake).check(spam) is True
    form = fake.requests[0].form
    # Empty optional fields are left out; is_test only when set.
    assert "comment_author" not in form and "is_test" not in form
    assert form["comment_content"] == ["buy viagra now"]


def test_optional_fields_honeypot_and_recheck(fake: FakeAkismet) -> None:
    comment = AkismetComment(
        user_ip="198.51.100.2",
        comment_content="hello",
        comment_type="reply",
        comment_date_gmt="2026-11-28T10:00:00Z",
        blog_lang="en",
        user_role="administrator",
        honeypot_field_name="website2",
        honeypot_value="http://bot.example",
        recheck_reason="edit",
    )
    assert client(fake).check(comment) is False
    form = fake.requests[0].form
    assert form["comment_type"] == ["reply"]
    assert form["comment_date_gmt"] == ["2026-11-28T10:00:00Z"]
    assert form["blog_lang"] == ["en"]
    assert form["user_role"] == ["administrator"]
    assert form["honeypot_field_name"] == ["website2"]
    assert form["website2"] == ["http://bot.example"]
    assert form["recheck_reason"] == ["edit"]


def test_wrong_key_fails_open_with_a_warning(
    fake: FakeAkismet, caplog: pytest.LogCaptureFixture
) -> None:
    bad = client(fake, key="wrong")
    with caplog.at_level(logging.WARNING, logger="voxpop.spam.akismet"):
        assert bad.check(COMMENT) is None
    assert "invalid" in caplog.text and "unable to parse your key" in caplog.text
    assert bad.verify_key() is False
    assert client(fake).verify_key() is True


def test_http_500_fails_open(fake: FakeAkismet, caplog: pytest.LogCaptureFixture) -> None:
    fake.mode = "500"
    with caplog.at_level(logging.WARNING, logger="voxpop.spam.akismet"):
        assert client(fake).check(COMMENT) is None
        assert client(fake).submit_spam(COMMENT) is False
        assert client(fake).verify_key() is None
    assert "HTTP 500" in caplog.text
    assert len(fake.requests) == 3


def test_unexpected_body_fails_open(fake: FakeAkismet) -> None:
    fake.mode = "garbage"
    assert client(fake).check(COMMENT) is None
    assert client(fake).submit_ham(COMMENT) is False


def test_timeout_fails_open_within_the_timeout(
    fake: FakeAkismet, caplog: pytest.LogCaptureFixture
) -> None:
    fake.mode = "slow"
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="voxpop.spam.akismet"):
        assert client(fake, timeout=0.5).check(COMMENT) is None
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 1.5
    assert "timed out" in caplog.text
    assert len(fake.requests) == 1  # it did reach the server


def test_connection_refused_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    # A port that was just free: nothing listens there.
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    akismet = Akismet(KEY, BLOG, endpoint=f"http://127.0.0.1:{port}", timeout=0.5)
    with caplog.at_level(logging.WARNING, logger="voxpop.spam.akismet"):
        assert akismet.check(COMMENT) is None
        assert akismet.submit_ham(COMMENT) is False
    assert caplog.text.count("akismet") >= 2


def test_submit_spam_and_ham(fake: FakeAkismet) -> None:
    akismet = client(fake)
    assert akismet.submit_spam(COMMENT) is True
    assert akismet.submit_ham(COMMENT) is True
    assert [r.path for r in fake.requests] == ["/1.1/submit-spam", "/1.1/submit-ham"]
    for seen in fake.requests:
        assert seen.form["api_key"] == [KEY]
        assert seen.form["comment_content"] == [COMMENT.comment_content]
        assert seen.form["user_ip"] == ["203.0.113.7"]


def test_constructor_refuses_non_http_endpoints_and_empty_keys() -> None:
    with pytest.raises(ValueError, match="http"):
        Akismet(KEY, BLOG, endpoint="file:///etc/passwd")
    with pytest.raises(ValueError, match="key"):
        Akismet("", BLOG)
    assert Akismet(KEY, BLOG).endpoint == "https://rest.akismet.com"
    assert Akismet(KEY, BLOG).timeout == 3.0


# --- wired into the service: a real voxpop app talking to the fake -----------------------


def test_the_comment_service_asks_akismet_and_reports_decisions(
    fake: FakeAkismet, make_client: AppFactory
) -> None:
    app = make_client(public_url=BLOG, akismet_key=KEY, akismet_url=fake.url)
    spam = post(app, body="cheap viagra here", author_name="Pill Seller")
    assert spam.status_code == 201 and spam.json()["status"] == "pending"  # not told
    stored = rows(
        app.database, f"SELECT status, reasons FROM comments WHERE id = {spam.json()['id']}"
    )
    assert stored[0].status == "spam" and "akismet" in stored[0].reasons
    ham = post(app, body="The bridge reopening was overdue")
    assert ham.json()["status"] == "approved"
    checks = [r for r in fake.requests if r.path == "/1.1/comment-check"]
    assert [r.form["comment_content"] for r in checks] == [
        ["cheap viagra here"],
        ["The bridge reopening was overdue"],
    ]
    assert checks[0].form["comment_author"] == ["Pill Seller"]
    assert checks[0].form["permalink"] == [BLOG + "/story"]
    # A moderator's decision goes back to Akismet as a lesson.
    admin = {"Authorization": f"Bearer {ADMIN}"}
    r = app.post(
        f"/api/v1/admin/comments/{spam.json()['id']}/moderate",
        json={"action": "approve"},
        headers=admin,
    )
    assert r.status_code == 200
    r = app.post(
        f"/api/v1/admin/comments/{ham.json()['id']}/moderate",
        json={"action": "spam"},
        headers=admin,
    )
    assert r.status_code == 200
    lessons = [(r.path, r.form["comment_content"][0]) for r in fake.requests if "submit" in r.path]
    assert lessons == [
        ("/1.1/submit-ham", "cheap viagra here"),
        ("/1.1/submit-spam", "The bridge reopening was overdue"),
    ]


def test_an_akismet_outage_lets_comments_through(
    fake: FakeAkismet, make_client: AppFactory
) -> None:
    fake.mode = "500"
    app = make_client(public_url=BLOG, akismet_key=KEY, akismet_url=fake.url)
    r = post(app, body="cheap viagra here")
    assert r.status_code == 201 and r.json()["status"] == "approved"
