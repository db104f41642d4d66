"""Signed reader tokens and salted address hashes.

A reader token is ``r1.<reader id>.<signature>``; the signature is HMAC-SHA256 of the id
under the secret key, compared in constant time. Addresses are never stored: only an
HMAC of the address under a salt derived from the secret key and the current day, so the
salt rotates daily and a stored hash cannot be tied to an address after that day.
"""

from __future__ import annotations

import base64
import functools
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from voxpop.errors import Unauthorized
from voxpop.model import ALL_SITES, Role

_PREFIX = "r1"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a reader (maybe not yet minted), the holder of the admin token
    (``moderator``: every right on every site), or a signed-in account with roles per site;
    and the hashes of their address (``address``: salted per day, for limits;
    ``address_key``: stable, what address bans match)."""

    reader_id: int | None
    moderator: bool
    address: str
    address_key: str = ""
    account_id: int | None = None
    username: str | None = None
    roles: tuple[tuple[str, Role], ...] = ()

    @property
    def key(self) -> str:
        return f"r{self.reader_id}" if self.reader_id is not None else f"a{self.address}"

    @property
    def audit_name(self) -> str:
        """Who did it, as the audit log records it."""
        if self.moderator:
            return "admin-token"
        if self.username is not None:
            return f"account:{self.username}"
        return f"reader:{self.reader_id}" if self.reader_id is not None else "anonymous"

    def role_on(self, site: str | None) -> Role | None:
        """The actor's highest role on a site (None: on every site at once)."""
        if self.moderator:
            return Role.ADMIN
        best: Role | None = None
        for name, role in self.roles:
            if name == ALL_SITES or (site is not None and name == site):
                if role is Role.ADMIN:
                    return role
                best = role
        return best

    @property
    def staff(self) -> bool:
        """Holds any role anywhere (may open the admin UI)."""
        return self.moderator or bool(self.roles)


def _mac(key: bytes, message: bytes) -> bytes:
    return hmac.digest(key, message, "sha256")  # OpenSSL's one-shot HMAC-SHA256


@functools.lru_cache(maxsize=64)
def _key(secret: str, label: str) -> bytes:
    """A key derived from the server's secret for one use (memoised: every comment
    needs several, and the secret changes only between processes)."""
    return _mac(secret.encode(), label.encode())


def _sign(secret: str, purpose: str, message: str) -> str:
    mac = _mac(secret.encode(), f"{purpose}:{message}".encode())
    return base64.urlsafe_b64encode(mac[:18]).decode().rstrip("=")


def reader_token(secret: str, reader_id: int) -> str:
    return f"{_PREFIX}.{reader_id}.{_sign(secret, 'reader', str(reader_id))}"


def verify_reader_token(secret: str, token: str) -> int:
    """The reader id in a token; Unauthorized when it is malformed or forged."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1].isdigit() or len(parts[1]) > 18:
        raise Unauthorized("The reader token is malformed; drop it and post again for a new one")
    expected = _sign(secret, "reader", parts[1])
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        raise Unauthorized("The reader token is not valid for this server")
    return int(parts[1])


def address_hash(secret: str, address: str, now: datetime | None = None) -> str:
    day = (now or datetime.now(UTC)).strftime("%Y-%m-%d")
    return _mac(_key(secret, f"address-salt:{day}"), address.encode()).hex()[:32]


def sign(secret: str, purpose: str, message: str) -> str:
    """A short signature for other tokens (CSRF, cursors)."""
    return _sign(secret, purpose, message)


def address_key(secret: str, address: str) -> str:
    """A keyed hash of an address that does not change from day to day: what address bans
    match. Stored with a comment only until VOXPOP_ADDRESS_RETENTION has passed."""
    return _mac(_key(secret, "address-key"), address.encode()).hex()[:32]


def email_key(secret: str, email: str) -> str:
    """A keyed hash of a lower-cased e-mail address: what e-mail bans match."""
    return _mac(_key(secret, "email-key"), email.strip().lower().encode()).hex()[:32]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
