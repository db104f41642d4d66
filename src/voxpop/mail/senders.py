"""Senders: hand a finished message to SMTP, or to the log when no server is configured.

``SMTPSender`` keeps a small pool of connections (``VOXPOP_SMTP_CONNECTIONS``) and sends
one message per connection at a time, reusing connections between messages. Errors are
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
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

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
    def __init__(self, config: SMTPConfig, connections: int) -> None:
        self.config = config
        self.connections = connections
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots: asyncio.Semaphore | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.implicit_tls,
            start_tls=c.start_tls,
            username=c.username,
            password=c.password,
            timeout=c.timeout,
            tls_context=ssl.create_default_context() if c.implicit_tls or c.start_tls else None,
        )
        await client.connect()
        return client

    async def send(self, sender: str, to: str, data: bytes) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.connections)
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                await client.sendmail(sender, [to], data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._keep(client)
                codes = [r.code for r in exc.recipients]
                raise SendError(str(exc), permanent=all(c >= 500 for c in codes)) from None
            except aiosmtplib.SMTPResponseException as exc:
                self._keep(client)
                raise SendError(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await _quietly_close(client)
                raise SendError(f"{type(exc).__name__}: {exc}", permanent=False) from None
            except asyncio.CancelledError:  # timed out by the caller: the state is unknown
                await _quietly_close(client)
                raise
            self._idle.append(client)

    def _keep(self, client: aiosmtplib.SMTP | None) -> None:
        """A refused message leaves the connection usable (after RSET, which aiosmtplib
        sends itself)."""
        if client is not None and client.is_connected:
            self._idle.append(client)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                await _quietly_close(client)


async def _quietly_close(client: aiosmtplib.SMTP | None) -> None:
    if client is None:
        return
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, RuntimeError):
        client.close()


def from_settings(smtp_url: str, connections: int, timeout: float) -> Sender:
    if not smtp_url:
        return LogSender()
    return SMTPSender(SMTPConfig.from_url(smtp_url, timeout), connections)
