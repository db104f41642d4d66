"""Reading one setting's text as a value; each reader names the setting in its error."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from voxpop.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate written ``COUNT/SECONDS``."""

    count: int
    seconds: int


def read_bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "on", "true", "yes"):
        return True
    if v in ("0", "off", "false", "no"):
        return False
    raise ConfigurationError(f"{name} must be on or off, not {raw!r}")


def read_int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def read_seconds(name: str, raw: str, zero: bool = False) -> float:
    """A positive number of seconds (or 0 where ``zero`` allows it); fractions allowed
    (tests use short ones)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None
    low_ok = value >= 0 if zero else value > 0
    if not low_ok or value >= 10**7:
        raise ConfigurationError(f"{name} must be a positive number of seconds")
    return value


def read_probability(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be a probability from 0 to 1, not {raw!r}")
    return value


def read_hour(name: str, raw: str) -> int:
    value = read_int(name, raw)
    if value > 23:
        raise ConfigurationError(f"{name} must be an hour from 0 to 23")
    return value


def read_rate(name: str, raw: str) -> Rate:
    count, _, seconds = raw.partition("/")
    return Rate(read_int(name, count, 1), read_int(name, seconds or "60", 1))


def read_smtp_url(raw: str) -> str:
    if not raw:
        return raw
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigurationError(
            "VOXPOP_SMTP_URL must look like smtp://host:587 or smtps://user:pass@host:465"
        )
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls" or value not in ("on", "off"):
            raise ConfigurationError(
                f"VOXPOP_SMTP_URL: unknown option {key}={value!r}; the one option is "
                "starttls=on (require it) or starttls=off (never use it)"
            )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigurationError("VOXPOP_SMTP_URL has a port that is not a number") from None
    return raw


def read_redis_url(raw: str) -> str:
    if raw and urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError("VOXPOP_REDIS_URL must look like redis://host:6379/0")
    return raw
