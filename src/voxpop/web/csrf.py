"""CSRF protection of the server-rendered forms: a signed double-submit token.

The page sets a random nonce in an HttpOnly, SameSite=Lax cookie and puts
``nonce.signature`` in each form; a POST passes only when the form's token is the
cookie's nonce signed with the secret key (constant-time comparison).
"""

from __future__ import annotations

import secrets

from voxpop.errors import CSRFFailed
from voxpop.services.identity import same, sign

COOKIE = "voxpop_csrf"


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def token_for(secret: str, nonce: str) -> str:
    return f"{nonce}.{sign(secret, 'csrf', nonce)}"


def check(secret: str, cookie_nonce: str | None, form_token: str | None) -> None:
    if not cookie_nonce or not form_token:
        raise CSRFFailed()
    if not same(token_for(secret, cookie_nonce), form_token):
        raise CSRFFailed()
