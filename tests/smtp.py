"""A real SMTP server for tests: aiosmtpd in a thread, keeping every message it accepts.

``Inbox.start(port)`` listens on 127.0.0.1; ``wait_for(n)`` blocks until ``n`` messages
arrived. Messages are parsed with the standard library, so tests read real headers and
follow the links in real bodies.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    mail_from: str
    to: list[str]
    message: email.message.EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        return str(self.message["subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["message-id"])

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def links(self) -> list[str]:
        return re.findall(r"https?://[^\s<>\"']+", self.text())

    def link(self, path: str) -> str:
        """The first link in the text part whose path starts with ``path``."""
        for url in self.links():
            if re.match(r"https?://[^/]+" + re.escape(path), url):
                return url
        raise AssertionError(f"no {path} link in {self.links()}")


class Inbox:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        # Called (in the server's thread) before a message is accepted: tests slow the
        # server down or refuse mail with it. Return an SMTP reply to refuse.
        self.before_accept: Callable[[list[str]], str | None] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.before_accept is not None:
            reply = self.before_accept(list(envelope.rcpt_tos))
            if reply is not None:
                return reply
        raw = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        with self._lock:
            self.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, raw)
            )
        return "250 Message accepted for delivery"

    def start(self) -> Inbox:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if address in m.to]

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self._lock:
            raise AssertionError(f"{len(self.messages)} of {count} mails arrived in {timeout}s")

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
