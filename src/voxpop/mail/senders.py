"""Senders: hand a finished message to SMTP, or to the log when no server is configured.

``SMTPSender`` keeps a small pool of connections (``VOXPOP_SMTP_CONNECTIONS``), each in
its own thread, and sends one message per connection at a time, reusing connections
between messages. Errors are
sorted into permanent ones (a 5xx reply: the address or message is refused; retrying
will not help) and temporary ones (4xx, a refused or dropped connection, a timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.parser
import email.policy
import logging
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("voxpop.mail")


class SendError(Exception):
    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    connections: int

    async def send(self, sender: str, to: str, data: bytes) -> None: ...

    async def close(self) -> None: ...


class LogSender:
    """No SMTP server configured: each mail is logged (its text part in full, so the
    links in it can be followed on a demo machine) and counts as sent."""

    connections = 4

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or log.info

    async def send(self, sender: str, to: str, data: bytes) -> None:
        parsed = email.parser.BytesParser(
            email.message.EmailMessage, policy=email.policy.default
        ).parsebytes(data)
        assert isinstance(parsed, email.message.EmailMessage)
        body = parsed.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        self._write(
            f"mail (not sent: VOXPOP_SMTP_URL is not set) from {sender} to {to}\n"
            f"Subject: {parsed['subject']}\nMessage-ID: {parsed['message-id']}\n\n{text}"
        )

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SMTPConfig:
    host: str
    port: int
    implicit_tls: bool
    start_tls: bool | None  # None: if the server offers it
    username: str | None
    password: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> SMTPConfig:
        """``smtp://[user:pass@]host[:port][?starttls=on|off]`` or ``smtps://…``."""
        parts = urlsplit(url)
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        starttls_raw = (query.get("starttls") or [""])[0].lower()
        start_tls = {"on": True, "off": False, "": None}.get(starttls_raw)
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            start_tls=False if implicit else start_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            timeout=timeout,
        )


class SMTPSender:
    """Sends over a pool of persistent connections, one thread each.

    The standard library's blocking ``smtplib`` in a few threads costs a few dozen
    microseconds of CPU per mail (its socket work releases the GIL); asyncio SMTP clients
    measured some 20 times that here, which on one core capped a worker near 750 mails/s
    and took that core from the requests of an in-process worker.
    """

    IDLE_CHECK = 10.0  # seconds idle after which a connection is checked (NOOP) before use

    def __init__(self, config: SMTPConfig, connections: int) -> None:
        self.config = config
        self.connections = connections
        self._pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix="voxpop-smtp")
        self._slots: asyncio.Semaphore | None = None
        self._local = threading.local()
        self._open: set[smtplib.SMTP] = set()
        self._lock = threading.Lock()
        self._hostname = socket.gethostname()

    async def send(self, sender: str, to: str, data: bytes) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.connections)
        async with self._slots:  # never more jobs than threads: no wait in the pool's queue
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, self._send, sender, to, data)

    def _client(self, deadline: float) -> smtplib.SMTP:
        """This thread's connection: opened (TLS, login) when there is none, checked with
        NOOP when it sat idle (servers drop idle connections)."""
        client: smtplib.SMTP | None = getattr(self._local, "client", None)
        if client is not None and time.monotonic() - self._local.used > self.IDLE_CHECK:
            try:
                _time_left(client, deadline)
                client.noop()
            except (smtplib.SMTPException, OSError):
                self._drop(client)
                client = None
        if client is None:
            client = self._connect(deadline)
        return client

    def _connect(self, deadline: float) -> smtplib.SMTP:
        c = self.config
        timeout = max(0.1, deadline - time.monotonic())
        client: smtplib.SMTP
        if c.implicit_tls:
            client = smtplib.SMTP_SSL(
                c.host,
                c.port,
                local_hostname=self._hostname,
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            client = smtplib.SMTP(c.host, c.port, local_hostname=self._hostname, timeout=timeout)
        with self._lock:
            self._open.add(client)
        self._local.client = client
        self._local.used = time.monotonic()
        try:
            _time_left(client, deadline)
            client.ehlo()
            # With a password, TLS is required unless turned off explicitly: opportunistic
            # STARTTLS would let anyone on the path strip it and read the password.
            required = c.start_tls or (c.start_tls is None and c.username is not None)
            if required or (c.start_tls is None and client.has_extn("starttls")):
                _time_left(client, deadline)
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if c.username is not None:
                _time_left(client, deadline)
                client.login(c.username, c.password or "")
        except BaseException:
            self._drop(client)
            raise
        return client

    def _drop(self, client: smtplib.SMTP) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.close()
        with self._lock:
            self._open.discard(client)
        self._local.client = None

    def _send(self, sender: str, to: str, data: bytes) -> None:
        """One mail within ``timeout`` seconds in all (each step gets what is left), so
        that a worker knows how long a send it starts can take."""
        deadline = time.monotonic() + self.config.timeout
        client = None
        try:
            client = self._client(deadline)
            _transfer(client, sender, to, data, deadline)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _message in exc.recipients.values()]
            raise SendError(str(exc.recipients), permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:  # the connection stays usable (RSET)
            raw = exc.smtp_error
            message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
            if exc.smtp_code == 421 and client is not None:  # the server is closing it
                self._drop(client)
            raise SendError(f"{exc.smtp_code} {message}", permanent=exc.smtp_code >= 500) from None
        except (smtplib.SMTPException, OSError) as exc:
            if client is not None:
                self._drop(client)
            raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from None
        self._local.used = time.monotonic()

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            clients, self._open = list(self._open), set()
        for client in clients:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                with contextlib.suppress(OSError):
                    client.close()


def _time_left(client: smtplib.SMTP, deadline: float) -> None:
    """Give the connection's next step only the time left before ``deadline``."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the SMTP server did not answer in time")
    if client.sock is None:
        raise smtplib.SMTPServerDisconnected("the connection is closed")
    client.sock.settimeout(left)


def _transfer(client: smtplib.SMTP, sender: str, to: str, data: bytes, deadline: float) -> None:
    """MAIL, RCPT, DATA for one recipient (``sendmail`` without its unbounded waits)."""
    _time_left(client, deadline)
    code, reply = client.mail(sender)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    _time_left(client, deadline)
    code, reply = client.rcpt(to)
    if code not in (250, 251):
        _reset(client)
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    _time_left(client, deadline)
    code, reply = client.data(data)
    if code != 250:
        _reset(client)
        raise smtplib.SMTPDataError(code, reply)


def _reset(client: smtplib.SMTP) -> None:
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        client.rset()


def from_settings(smtp_url: str, connections: int, timeout: float) -> Sender:
    if not smtp_url:
        return LogSender()
    return SMTPSender(SMTPConfig.from_url(smtp_url, timeout), connections)
