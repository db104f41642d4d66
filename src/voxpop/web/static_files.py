"""The widget script and other static files, assembled once at start."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from voxpop.settings import LANGUAGES

STATIC = Path(__file__).parent / "static"
I18N = Path(__file__).parent / "i18n"
PLACEHOLDER = "/*VOXPOP_MESSAGES*/{}"


def widget_messages() -> dict[str, dict[str, str]]:
    out = {}
    for lang in LANGUAGES:
        path = I18N / f"widget.{lang}.json"
        out[lang] = orjson.loads(path.read_bytes()) if path.exists() else {}
    return out


def build_embed() -> bytes:
    source = (STATIC / "embed.js").read_text(encoding="utf-8")
    messages = orjson.dumps(widget_messages()).decode()
    return source.replace(PLACEHOLDER, messages, 1).encode()


class Asset:
    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.gzipped = gzip.compress(body, 9, mtime=0)
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'

    def response(self, request: Request, max_age: int = 300) -> Response:
        headers = {
            "ETag": self.etag,
            "Cache-Control": f"public, max-age={max_age}",
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(self.gzipped, media_type=self.media_type, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def router() -> APIRouter:
    embed = Asset(build_embed(), "text/javascript; charset=utf-8")
    styles = {}
    for path in STATIC.glob("*.css"):
        styles[path.name] = Asset(path.read_bytes(), "text/css; charset=utf-8")
    for path in STATIC.glob("*.js"):
        if path.name != "embed.js":  # served, with its messages, at /embed.js
            styles[path.name] = Asset(path.read_bytes(), "text/javascript; charset=utf-8")
    r = APIRouter(include_in_schema=False)

    @r.get("/embed.js")
    def embed_js(request: Request) -> Response:
        return embed.response(request)

    @r.get("/static/{name}")
    def static(request: Request, name: str) -> Response:
        asset = styles.get(name)
        if asset is None:
            from voxpop.errors import NotFound

            raise NotFound(f"No static file {name!r}")
        return asset.response(request, 3600)

    return r
