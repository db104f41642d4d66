"""The sites: each one's title, origins, language, moderation, rating policy and webhook,
from the settings (the ``default`` site) and the TOML file's ``[sites.NAME]`` tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from voxpop.errors import ConfigurationError
from voxpop.model import Moderation, RatingPolicy
from voxpop.settings.values import read_bool, read_int

LANGUAGES = ("en", "de")


@dataclass(frozen=True, slots=True)
class SiteConfig:
    name: str
    title: str
    origins: tuple[str, ...]
    language: str
    moderation: Moderation
    rating: RatingPolicy
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)


def read_sites(tables: Mapping[str, Any], default: SiteConfig) -> tuple[SiteConfig, ...]:
    """Every site: ``default`` (from the settings), which a ``[sites.default]`` table may
    change, and one per other ``[sites.NAME]`` table. What a table leaves out comes from
    ``default`` as the settings made it."""
    sites = [default]
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"[sites.{name}] must be a table")
        if name == "default":
            inherited = (default.webhook_url, default.webhook_secret)
            sites[0] = SiteConfig(
                "default",
                str(table.get("title", default.title)),
                read_origins(f"sites.{name}.origins", table.get("origins", [])) or default.origins,
                read_language(
                    f"sites.{name}.language", str(table.get("language", default.language))
                ),
                read_moderation(
                    f"sites.{name}.moderation", str(table.get("moderation", default.moderation))
                ),
                read_rating_policy(f"sites.{name}.", table, default.rating),
                *(inherited if inherited[0] else _site_webhook(name, table)),
            )
            continue
        sites.append(
            SiteConfig(
                name,
                str(table.get("title", name)),
                read_origins(f"sites.{name}.origins", table.get("origins", [])),
                read_language(
                    f"sites.{name}.language", str(table.get("language", default.language))
                ),
                read_moderation(
                    f"sites.{name}.moderation", str(table.get("moderation", default.moderation))
                ),
                read_rating_policy(f"sites.{name}.", table, default.rating),
                *_site_webhook(name, table),
            )
        )
    return tuple(sites)


def read_origins(name: str, raw: str | list[Any]) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else raw.split(",")
    out = []
    for item in items:
        origin = str(item).strip().rstrip("/")
        if not origin:
            continue
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise ConfigurationError(
                f"{name}: {origin!r} is not an origin like https://news.example"
            )
        out.append(origin)
    return tuple(out)


def read_moderation(name: str, raw: str) -> Moderation:
    try:
        return Moderation(raw.strip().lower())
    except ValueError:
        raise ConfigurationError(f"{name} must be none, pre or auto, not {raw!r}") from None


def read_language(name: str, raw: str) -> str:
    if raw not in LANGUAGES:
        raise ConfigurationError(f"{name} must be one of {', '.join(LANGUAGES)}, not {raw!r}")
    return raw


def read_rating_policy(prefix: str, raw: Mapping[str, Any], default: RatingPolicy) -> RatingPolicy:
    """The rating policy from the environment (prefix ``VOXPOP_``) or a site's table."""

    def label(key: str) -> str:
        return f"VOXPOP_{key.upper()}" if prefix == "VOXPOP_" else f"{prefix}{key}"

    def flag(key: str, fallback: bool) -> bool:
        value = raw.get(key)
        if value is None:
            return fallback
        return value if isinstance(value, bool) else read_bool(label(key), str(value))

    allowance = raw.get("rating_allowance")
    return RatingPolicy(
        enabled=flag("ratings", default.enabled),
        guests=flag("rating_guests", default.guests),
        changes=flag("rating_changes", default.changes),
        allowance=default.allowance
        if allowance is None
        else read_int(label("rating_allowance"), str(allowance)),
    )


def read_webhook(where: str, url: str, secret: str) -> tuple[str, str]:
    """A webhook's (URL, secret): an http(s) URL without credentials, and a secret with it.
    ``where`` names the settings: ``VOXPOP_WEBHOOK_`` or ``sites.NAME.webhook_``."""
    url_name, secret_name = (
        ("VOXPOP_WEBHOOK_URL", "VOXPOP_WEBHOOK_SECRET")
        if where == "VOXPOP_WEBHOOK_"
        else (where + "url", where + "secret")
    )
    url = url.strip()
    if not url:
        return "", ""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigurationError(f"{url_name} has a port that is not a number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{url_name} must be an http:// or https:// URL such as "
            f"https://hooks.example/voxpop, not {url!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            f"{url_name} must not hold a user or password: the receiver authenticates the "
            f"calls by their signature (set {secret_name})"
        )
    if not secret.strip():
        raise ConfigurationError(
            f"{url_name} is set but {secret_name} is not: set {secret_name} to a long random "
            "key shared with the receiver, which checks each call's X-Voxpop-Signature with it "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return url, secret.strip()


def _site_webhook(name: str, table: Mapping[str, Any]) -> tuple[str, str]:
    return read_webhook(
        f"sites.{name}.webhook_",
        str(table.get("webhook_url", "")),
        str(table.get("webhook_secret", "")),
    )
