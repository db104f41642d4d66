"""The one place errors become HTTP responses: RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from voxpop import errors

PROBLEM = "application/problem+json"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def problem(
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": f"https://voxpop.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
        **extra,
    }
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM, headers=headers)


def from_error(exc: errors.VoxpopError) -> Response:
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    extra = {k: v for k, v in exc.extra.items() if k == "field" and isinstance(v, str)}
    return problem(exc.status, exc.code, exc.title, exc.detail, headers, **extra)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> Response:
    problems = list(exc.errors())
    if any(p.get("type") == "json_invalid" for p in problems):
        return from_error(errors.MalformedJSON("Send a JSON object; this body is not valid JSON"))
    listed = [
        {"field": _field(tuple(p.get("loc", ()))), "message": str(p.get("msg", ""))}
        for p in problems
    ]
    first = listed[0] if listed else {"field": "body", "message": "invalid"}
    return problem(
        422,
        "validation_error",
        errors.ValidationFailed.title,
        f"{first['field']}: {first['message']}",
        field=first["field"],
        errors=listed,
    )


HtmlErrors = Callable[[Request, errors.VoxpopError], Response | None]


def install(app: FastAPI, html: HtmlErrors | None = None) -> None:
    """Map errors to problem+json; ``html`` may answer a browser on a page instead."""

    async def on_voxpop(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, errors.VoxpopError)
        page = html(request, exc) if html else None
        return page or from_error(exc)

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return from_validation(exc)

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem(exc.status_code, code, title, detail, dict(exc.headers or {}))

    app.add_exception_handler(errors.VoxpopError, on_voxpop)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
