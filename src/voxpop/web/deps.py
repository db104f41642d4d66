"""What a route needs from a request: the context, the actor, the site."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from fastapi import Request
from fastapi.dependencies.utils import get_flat_dependant

from voxpop.errors import Unauthorized, ValidationFailed
from voxpop.services.context import Context
from voxpop.services.identity import (
    Actor,
    address_hash,
    address_key,
    same,
    verify_reader_token,
)


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def client_address(request: Request, trusted: tuple[str, ...]) -> str:
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted:
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if hop not in trusted:
            try:
                return str(ip_address(hop))
            except ValueError:
                return peer
    return peer


def known_query(request: Request) -> None:
    """Refuse query parameters the route does not define (a typo is an error, not a
    silently ignored option)."""
    route = request.scope.get("route")
    allowed = _query_names(route) if route is not None else None
    if allowed is None:
        return
    for name in request.query_params:
        if name not in allowed:
            raise ValidationFailed(f"Unknown query parameter {name!r}", field=name)


def _query_names(route: Any) -> frozenset[str] | None:
    """The route's query parameter names, worked out once and kept on the route itself."""
    names: frozenset[str] | None = getattr(route, "_voxpop_query_names", None)
    if names is None:
        dependant = getattr(route, "dependant", None)
        if dependant is None:
            return None
        names = frozenset(p.alias for p in get_flat_dependant(dependant).query_params)
        route._voxpop_query_names = names
    return names


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use Authorization: Bearer <token>")
    return token.strip()


def actor(request: Request, reader_token: str | None = None) -> Actor:
    """The caller: moderator (admin token), a reader (signed token) or a new visitor."""
    ctx = context(request)
    settings = ctx.settings
    client = client_address(request, settings.trusted_proxies)
    address = address_hash(settings.secret_key, client, ctx.clock())
    key = address_key(settings.secret_key, client)
    token = reader_token if reader_token is not None else bearer(request)
    if not token:
        return Actor(None, False, address, key)
    if settings.admin_token and same(token, settings.admin_token):
        return Actor(None, True, address, key)
    return Actor(verify_reader_token(settings.secret_key, token), False, address, key)


def akismet_client(request: Request) -> tuple[str, str] | None:
    """The request's address and user agent, for Akismet only (never stored); None when
    Akismet is off."""
    ctx = context(request)
    if ctx.akismet is None:
        return None
    address = client_address(request, ctx.settings.trusted_proxies)
    return address, request.headers.get("user-agent", "")[:500]
