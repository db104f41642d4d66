"""ASGI middleware: security headers, request size limit, CORS per site.

Pure ASGI (no BaseHTTPMiddleware) so streaming and the hot read path stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxpop import errors
from voxpop.web.problems import from_error

_API_CSP = "default-src 'none'; frame-ancestors 'none'"


def page_csp(frame_ancestors: Iterable[str]) -> str:
    ancestors = " ".join(["'self'", *frame_ancestors])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        f"base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )


class SecurityHeaders:
    """Adds nosniff, referrer policy, CSP (strict for pages, none-at-all for JSON), HSTS."""

    def __init__(self, app: ASGIApp, page_policy: str, hsts: bool) -> None:
        self.app = app
        self.page_policy = page_policy.encode()
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                message["headers"] = headers + security_headers(
                    ctype, names, self.page_policy, self.hsts
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


def security_headers(
    ctype: bytes, names: set[bytes], page_policy: bytes, hsts: bool
) -> list[tuple[bytes, bytes]]:
    """What ``SecurityHeaders`` adds to a response of this content type that already has
    the headers ``names`` (lower case); the cached thread read adds the same."""
    add = [(b"x-content-type-options", b"nosniff")]
    if b"referrer-policy" not in names:  # pages reached from mail set no-referrer
        add.append((b"referrer-policy", b"strict-origin-when-cross-origin"))
    if b"content-security-policy" not in names:
        csp = page_policy if ctype.startswith(b"text/html") else _API_CSP.encode()
        add.append((b"content-security-policy", csp))
    if ctype.startswith(b"text/html"):
        add.append((b"x-frame-options", b"SAMEORIGIN"))
    if hsts:
        add.append((b"strict-transport-security", b"max-age=31536000"))
    return add


class BodyLimit:
    """413 for a body over the limit, whether announced by Content-Length or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        large_paths: tuple[str, ...] = (),
        large_bytes: int = 0,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_paths = frozenset(large_paths)
        self.large_bytes = max(large_bytes, max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_bytes if scope["path"] in self.large_paths else self.max_bytes
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length > limit or length < 0:
                    await self._refuse(scope, receive, send, limit)
                    return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # Read the whole (small) body first, so an oversized stream is refused before any
        # handler sees a byte of it; then replay it.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # disconnected: let the app notice
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        too_large = errors.PayloadTooLarge(f"The body is larger than {limit} bytes; shorten it")
        await from_error(too_large)(scope, receive, send)


class CORS:
    """CORS for the public API and the widget: an origin is allowed when a site allows it.

    Which site a write targets is checked again by the service (``origin_not_allowed``).
    """

    def __init__(self, app: ASGIApp, allowed: Callable[[str], bool]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        origin = None
        for key, value in scope.get("headers", []):
            if key == b"origin":
                origin = value.decode("latin-1")
                break
        public = path.startswith(("/api/v1/", "/embed.js", "/feeds/"))
        if not public or not origin:
            await self.app(scope, receive, send)
            return
        ok = self.allowed(origin)
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            headers: list[tuple[bytes, bytes]] = [(b"vary", b"Origin")]
            if ok:
                headers += [
                    *_cors_headers(origin),
                    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE"),
                    (
                        b"access-control-allow-headers",
                        b"Authorization, Content-Type, If-None-Match, Last-Event-ID",
                    ),
                    (b"access-control-max-age", b"600"),
                ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        extra = cors_headers(origin, ok)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_cors)


def cors_headers(origin: str, allowed: bool) -> list[tuple[bytes, bytes]]:
    """What ``CORS`` adds to a public response to a request from ``origin`` (not a
    preflight); the cached thread read adds the same."""
    extra = [(b"vary", b"Origin")]
    if allowed:
        extra += _cors_headers(origin)
    return extra


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-expose-headers", b"ETag, Retry-After, Location"),
    ]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value)
    return None
