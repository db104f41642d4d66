"""VOXPOP_SMTP_URL as the contract says: STARTTLS, SMTPS (TLS from the start) and login,
against a real aiosmtpd server with a certificate made for the test (openssl)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from voxpop.mail.senders import LogSender, SendError, SMTPConfig, SMTPSender, from_settings

from .smtp import Inbox, free_port

USER, PASSWORD = "news@example.org", "p:ss/w@rd?"
MESSAGE = (
    b"From: news@example.org\r\nTo: ann@example.org\r\nSubject: Hello\r\n"
    b"Message-ID: <voxpop.notify.1@example.org>\r\n\r\nHello Ann\r\n"
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def trust(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the test's certificate the one the client trusts (as a system CA would be)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    return certificate[0]


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _login(_server: Any, session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def _serve(**options: Any) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=inbox.port, server_hostname="localhost", **options
    )
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[Inbox]:
    """STARTTLS required, and a login (offered only after STARTTLS)."""
    yield from _serve(
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_login,
        auth_required=True,
    )


@pytest.fixture
def smtps_server(certificate: tuple[Path, Path]) -> Iterator[Inbox]:
    """TLS from the first byte."""
    yield from _serve(ssl_context=_server_context(certificate))


def send(url: str) -> None:
    sender = SMTPSender(SMTPConfig.from_url(url, timeout=10), connections=1)

    async def run() -> None:
        try:
            await sender.send("news@example.org", "ann@example.org", MESSAGE)
        finally:
            await sender.close()

    asyncio.run(run())


def credentials() -> str:
    return f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}"


def test_starttls_and_login(starttls_server: Inbox, trust: Path) -> None:
    send(f"smtp://{credentials()}@localhost:{starttls_server.port}?starttls=on")
    [mail] = starttls_server.wait_for(1)
    assert mail.to == ["ann@example.org"]
    assert mail.subject == "Hello"


def test_smtps(smtps_server: Inbox, trust: Path) -> None:
    # (aiosmtpd offers AUTH only after STARTTLS, so login is tested above.)
    send(f"smtps://localhost:{smtps_server.port}")
    [mail] = smtps_server.wait_for(1)
    assert mail.message_id == "<voxpop.notify.1@example.org>"


def test_a_wrong_password_fails_for_good(starttls_server: Inbox, trust: Path) -> None:
    with pytest.raises(SendError) as failed:
        send(f"smtp://{quote(USER, safe='')}:wrong@localhost:{starttls_server.port}?starttls=on")
    assert failed.value.permanent  # 535: retrying will not help; an operator must act
    assert starttls_server.messages == []


def test_an_untrusted_certificate_is_refused(starttls_server: Inbox) -> None:
    with pytest.raises(SendError) as failed:
        send(f"smtp://{credentials()}@localhost:{starttls_server.port}?starttls=on")
    assert not failed.value.permanent
    assert starttls_server.messages == []


def test_credentials_are_never_sent_without_tls(inbox: Inbox) -> None:
    """A password and no ``starttls`` setting: TLS is required, so a server (or someone on
    the path) that offers no STARTTLS gets no password and no mail."""
    logins: list[Any] = []
    inbox.before_accept = lambda to: logins.append(to) or None
    with pytest.raises(SendError) as failed:
        send(f"smtp://{credentials()}@127.0.0.1:{inbox.port}")
    assert "STARTTLS" in str(failed.value)
    assert inbox.messages == [] and logins == []
    send(f"smtp://127.0.0.1:{inbox.port}")  # no password: plain SMTP is fine
    assert len(inbox.wait_for(1)) == 1


def test_a_server_that_is_down_is_a_temporary_failure() -> None:
    with pytest.raises(SendError) as failed:
        send(f"smtp://127.0.0.1:{free_port()}")
    assert not failed.value.permanent


def test_smtp_urls_are_read_as_documented() -> None:
    plain = SMTPConfig.from_url("smtp://mail.example", 30)
    assert (plain.host, plain.port, plain.implicit_tls, plain.start_tls) == (
        "mail.example",
        25,
        False,
        None,
    )
    assert plain.username is None
    tls = SMTPConfig.from_url("smtps://a%40b:c%3Ad@mail.example", 30)
    assert (tls.port, tls.implicit_tls, tls.username, tls.password) == (465, True, "a@b", "c:d")
    assert SMTPConfig.from_url("smtp://h:587?starttls=on", 30).start_tls is True
    assert type(from_settings("", 4, 30)).__name__ == "LogSender"


def test_without_smtp_mails_go_to_the_log() -> None:
    lines: list[str] = []
    asyncio.run(LogSender(lines.append).send("a@example.org", "b@example.org", MESSAGE))
    assert "b@example.org" in lines[0] and "Hello Ann" in lines[0]
