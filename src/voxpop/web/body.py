"""Reading a JSON body straight into a pydantic model (the hot write paths).

Cheaper than the framework's dependency machinery: one ``model_validate_json`` call (the
parser and validator in Rust). Errors take the same form as every other validation error.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from voxpop.errors import UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


async def parse(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if not raw.strip():
        missing = {"type": "missing", "loc": ("body",), "msg": "A JSON object is required"}
        raise RequestValidationError([missing])
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as application/json, not {media or 'nothing'}")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents ``model`` as the JSON request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }
