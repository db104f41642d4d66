"""A Server-Sent Events client for the tests: reads a stream in a thread, parsed per the
HTML standard's event-stream rules (``id``, ``event``, ``data``, ``retry``, comments)."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Message:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


END = Message(None, "<end>", "")


class Listener:
    """``Listener(url)`` connects at once; ``next()`` gives messages as they come.

    A plain socket (HTTP/1.1, chunked) rather than an HTTP library, so that ``close()``
    can end a read blocked in the reading thread at once (``shutdown``)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.messages: queue.Queue[Message] = queue.Queue()
        self.retries: list[int] = []
        self.comments = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = ""
        parts = urlsplit(url)
        self._sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=10)
        self._sock.settimeout(None)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            self.close()
            raise TimeoutError(f"no answer from {url}")

    def _chunks(self, reader: Any) -> Iterator[bytes]:
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            yield reader.read(size)
            reader.readline()

    def _run(self) -> None:
        try:
            with self._sock.makefile("rb") as reader:
                status_line = reader.readline().decode("latin-1")
                self.status = int(status_line.split()[1])
                while (line := reader.readline().decode("latin-1").strip()) != "":
                    name, _, value = line.partition(":")
                    self.headers[name.strip().lower()] = value.strip()
                self._ready.set()
                chunked = self.headers.get("transfer-encoding") == "chunked"
                if self.status != 200:
                    length = int(self.headers.get("content-length", "0"))
                    raw = b"".join(self._chunks(reader)) if chunked else reader.read(length)
                    self.body = raw.decode()
                    return
                self._parse(self._chunks(reader) if chunked else iter(reader.readline, b""))
        except (OSError, ValueError, IndexError):
            pass  # closed under it, or the server went: the stream has ended
        finally:
            self._ready.set()
            self.messages.put(END)

    def _parse(self, chunks: Iterator[bytes]) -> None:
        event, data, last_id, pending = "message", [], None, b""
        for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode().removesuffix("\r")
                if line == "":
                    if data:
                        self.messages.put(Message(last_id, event, "\n".join(data)))
                    event, data = "message", []
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    name, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if name == "event":
                        event = value
                    elif name == "data":
                        data.append(value)
                    elif name == "id":
                        last_id = value
                    elif name == "retry":
                        self.retries.append(int(value))

    def next(self, timeout: float = 10) -> Message:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"no event from {self.url} within {timeout} s") from None

    def until(self, event: str, timeout: float = 10) -> Message:
        """The next message of this type (others before it are passed over)."""
        deadline = time.monotonic() + timeout
        while True:
            message = self.next(max(0.01, deadline - time.monotonic()))
            if message.event in (event, END.event):
                return message

    def quiet(self, seconds: float) -> list[Message]:
        """Every message that comes within ``seconds``."""
        got: list[Message] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                break
        return got

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._sock.close()
