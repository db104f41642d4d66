"""Typed, frozen settings, built once at start and passed down explicitly.

Every setting is declared once in ``SPECS`` as (name, default, help). A value comes from,
in order of precedence: the ``VOXPOP_<NAME>`` environment variable, the TOML file named by
``VOXPOP_CONFIG`` (top-level keys, lower case), then the default. Sites other than
``default`` are configured in the TOML file::

    [sites.tribune]
    title = "The Tribune"
    origins = ["https://tribune.example"]
    language = "de"
    moderation = "pre"
    webhook_url = "https://hooks.tribune.example/voxpop"
    webhook_secret = "a long random key shared with the receiver"

``docs/settings.md`` lists every setting; a test fails when one is missing there.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from voxpop.errors import ConfigurationError
from voxpop.model import Moderation, RatingPolicy


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    default: str
    help: str


SPECS: tuple[Spec, ...] = (
    Spec("env", "dev", "`dev` or `production`. Production refuses a missing secret key."),
    Spec("config", "", "Path of a TOML file with settings and `[sites.NAME]` tables."),
    Spec("database_url", "sqlite:///voxpop.db", "`sqlite:///path` or `postgresql://...`."),
    Spec(
        "secret_key",
        "",
        "Signs reader tokens, CSRF tokens and address hashes. Required outside dev; in dev "
        "one is generated once and kept beside the SQLite file.",
    ),
    Spec("admin_token", "", "Bearer token with admin rights on every site; none if empty."),
    Spec("public_url", "http://127.0.0.1:8000", "Base of links in e-mails, feeds and pages."),
    Spec("smtp_url", "", "`smtp://host:port` (`smtps://`, user:pass@ allowed); empty: logged."),
    Spec("mail_from", "voxpop@localhost", "Sender address of e-mails."),
    Spec("moderation", "auto", "`none`, `pre` (all new comments wait) or `auto` (policy)."),
    Spec(
        "allowed_origins",
        "",
        "Comma-separated origins that may embed the widget and call the public API for the "
        "default site. Empty: the server's own origin (dev: also any localhost port).",
    ),
    Spec(
        "redis_url",
        "",
        "`redis://host:6379/0` (or `rediss://`, `unix://`): rate limits counted in Redis, shared "
        "by every process; empty: counted in each process.",
    ),
    Spec("rate_limits", "on", "`on`, or `off` for benchmarks and trusted networks."),
    Spec(
        "webhook_url",
        "",
        "http(s) URL that receives a signed JSON event (POST) per new, edited, moderated or "
        "deleted comment, inline feedback and rating of the default site (other sites: "
        "`webhook_url` in `[sites.NAME]`); empty: no webhook.",
    ),
    Spec(
        "webhook_secret",
        "",
        "Key of the webhook's `X-Voxpop-Signature` (HMAC-SHA256 of the body); required with "
        "a webhook URL (per site: `webhook_secret`).",
    ),
    Spec("edit_window", "900", "Seconds during which a reader may edit or delete their comment."),
    Spec("language", "en", "Default language of pages and the widget (`en` or `de`)."),
    Spec("demo", "", "Serve the demo newsroom at `/` (`on`/`off`); default: on in dev only."),
    Spec("max_body_bytes", "65536", "Largest accepted request body; larger gets 413."),
    Spec(
        "max_article_bytes",
        "2097152",
        "Largest body of `PUT /api/v1/articles` and `POST /api/v1/anchor` (an article's text) "
        "and of a word list (`PUT /api/v1/admin/words`, the admin UI's word lists).",
    ),
    Spec("max_comment_chars", "10000", "Longest comment body in characters."),
    Spec("post_rate", "10/60", "Comments a reader or address may post: COUNT/SECONDS."),
    Spec("vote_rate", "60/60", "Votes a reader or address may cast: COUNT/SECONDS."),
    Spec(
        "trusted_proxies",
        "",
        "Comma-separated proxy addresses whose `X-Forwarded-For` names the client; empty: none.",
    ),
    Spec("ratings", "on", "Article ratings on or off (per site: `ratings` in `[sites.NAME]`)."),
    Spec(
        "rating_guests",
        "on",
        "Whether readers without a confirmed e-mail address may rate (per site: `rating_guests`).",
    ),
    Spec(
        "rating_changes",
        "on",
        "Whether readers may change or remove their rating (per site: `rating_changes`).",
    ),
    Spec(
        "rating_allowance",
        "3",
        "New raters per address, article and day whose ratings count; more are kept but not "
        "counted (per site: `rating_allowance`).",
    ),
    Spec(
        "rating_trust_verified",
        "on",
        "Readers with a confirmed e-mail address are exempt from the per-address allowance.",
    ),
    Spec(
        "rating_prior",
        "5",
        "Weight (in votes) of the site's mean rating in the damped average that ranks articles.",
    ),
    Spec("rating_rate", "30/60", "Ratings a reader or address may submit: COUNT/SECONDS."),
    Spec(
        "anchor_rate",
        "10/60",
        "Page texts an address may ask `POST /api/v1/anchor` to locate feedback in: "
        "COUNT/SECONDS (it is CPU work; answers are cached per text).",
    ),
    Spec("workers", "1", "Server processes started by `voxpop serve` (uvicorn workers)."),
    Spec(
        "mail_worker",
        "on",
        "Run the outbox worker inside `voxpop serve` (`off` when `voxpop worker` processes "
        "send the mail).",
    ),
    Spec("smtp_connections", "4", "SMTP connections a worker sends over at once."),
    Spec("smtp_timeout", "30", "Seconds one mail may take to send, connecting included."),
    Spec(
        "mail_retry_base",
        "30",
        "Seconds before a failed mail is tried again; doubled for each further attempt "
        "(with jitter), at most six hours.",
    ),
    Spec("mail_max_attempts", "12", "Attempts before a mail is marked failed for an operator."),
    Spec(
        "mail_lease",
        "120",
        "Seconds a worker holds the mails it took; a crashed worker's mails are taken "
        "again after that. Must leave room for a send (twice the SMTP timeout).",
    ),
    Spec("mail_poll", "2", "Seconds between a worker's looks at the outbox when it is idle."),
    Spec(
        "mail_retention",
        "30",
        "Days sent and dropped mails stay in the outbox (for operators) before they are deleted.",
    ),
    Spec("digest_hour", "7", "Hour of the day (UTC) at which daily digests are sent."),
    Spec("confirm_ttl", "172800", "Seconds a subscription's confirmation link stays valid."),
    Spec(
        "confirm_limit",
        "3/86400",
        "Confirmation mails one e-mail address may receive: COUNT/SECONDS (more requests are "
        "accepted but send nothing, so nobody can flood a stranger's inbox).",
    ),
    Spec(
        "subscribe_rate",
        "10/3600",
        "Subscription requests an address (of the requester) may make: COUNT/SECONDS.",
    ),
    Spec("session_ttl", "43200", "Seconds an admin UI sign-in lasts."),
    Spec(
        "login_rate",
        "10/900",
        "Sign-in attempts per username and per address: COUNT/SECONDS (then 429).",
    ),
    Spec("flag_rate", "20/3600", "Flags a reader or address may raise: COUNT/SECONDS."),
    Spec(
        "flag_threshold",
        "3",
        "Flags from different addresses that take an approved comment back to the queue "
        "(under `auto` moderation); 0: flags never hide a comment.",
    ),
    Spec(
        "hold_new_authors",
        "off",
        "Under `auto` moderation, hold the comments of readers with no approved comment on "
        "the site yet.",
    ),
    Spec(
        "spam_hold",
        "0.75",
        "Spam probability from which `auto` moderation holds a comment for a moderator.",
    ),
    Spec(
        "spam_reject",
        "0.98",
        "Spam probability from which a comment goes straight to the spam folder (any policy "
        "but `none`): it never reaches the queue.",
    ),
    Spec(
        "min_submit_seconds",
        "3",
        "A comment sent sooner than this after its form was shown counts as evidence of a "
        "bot (the forms say when they were shown); 0: off.",
    ),
    Spec(
        "akismet_key",
        "",
        "Akismet API key: new comments are also checked with Akismet, and moderators' spam/ham "
        "decisions reported to it. Empty: off.",
    ),
    Spec("akismet_url", "https://rest.akismet.com", "Akismet endpoint (for a proxy or a test)."),
    Spec(
        "address_retention",
        "30",
        "Days the hashes of readers' addresses stay with their comments and ratings (for bans "
        "and stuffing checks) before they are forgotten.",
    ),
)

_SPEC_NAMES = {s.name for s in SPECS}
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


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    database_url: str
    secret_key: str
    admin_token: str
    public_url: str
    smtp_url: str
    mail_from: str
    moderation: Moderation
    redis_url: str
    rate_limits: bool
    webhook_url: str
    webhook_secret: str = field(repr=False)
    edit_window: int
    language: str
    demo: bool
    max_body_bytes: int
    max_article_bytes: int
    max_comment_chars: int
    post_rate: Rate
    vote_rate: Rate
    rating_rate: Rate
    anchor_rate: Rate
    rating_trust_verified: bool
    rating_prior: int
    trusted_proxies: tuple[str, ...]
    workers: int
    mail_worker: bool
    smtp_connections: int
    smtp_timeout: int
    mail_retry_base: float
    mail_max_attempts: int
    mail_lease: float
    mail_poll: float
    mail_retention: int
    digest_hour: int
    confirm_ttl: int
    confirm_limit: Rate
    subscribe_rate: Rate
    session_ttl: int
    login_rate: Rate
    flag_rate: Rate
    flag_threshold: int
    hold_new_authors: bool
    spam_hold: float
    spam_reject: float
    min_submit_seconds: float
    akismet_key: str
    akismet_url: str
    address_retention: int
    sites: tuple[SiteConfig, ...] = field(default_factory=tuple)

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def site(self, name: str) -> SiteConfig | None:
        for s in self.sites:
            if s.name == name:
                return s
        return None


def _bool(name: str, raw: str) -> bool:
    v = raw.strip().lower()
    if v in ("1", "on", "true", "yes"):
        return True
    if v in ("0", "off", "false", "no"):
        return False
    raise ConfigurationError(f"{name} must be on or off, not {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}")
    return value


def _seconds(name: str, raw: str, zero: bool = False) -> float:
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


def _probability(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{name} must be a probability from 0 to 1, not {raw!r}")
    return value


def _hour(name: str, raw: str) -> int:
    value = _int(name, raw)
    if value > 23:
        raise ConfigurationError(f"{name} must be an hour from 0 to 23")
    return value


def _smtp_url(raw: str) -> str:
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


def _redis_url(raw: str) -> str:
    if raw and urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError("VOXPOP_REDIS_URL must look like redis://host:6379/0")
    return raw


def _webhook(where: str, url: str, secret: str) -> tuple[str, str]:
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
    return _webhook(
        f"sites.{name}.webhook_",
        str(table.get("webhook_url", "")),
        str(table.get("webhook_secret", "")),
    )


def _rate(name: str, raw: str) -> Rate:
    count, _, seconds = raw.partition("/")
    return Rate(_int(name, count, 1), _int(name, seconds or "60", 1))


def _origins(name: str, raw: str | list[Any]) -> tuple[str, ...]:
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


def _moderation(name: str, raw: str) -> Moderation:
    try:
        return Moderation(raw.strip().lower())
    except ValueError:
        raise ConfigurationError(f"{name} must be none, pre or auto, not {raw!r}") from None


def _language(name: str, raw: str) -> str:
    if raw not in LANGUAGES:
        raise ConfigurationError(f"{name} must be one of {', '.join(LANGUAGES)}, not {raw!r}")
    return raw


def _rating_policy(prefix: str, raw: Mapping[str, Any], default: RatingPolicy) -> RatingPolicy:
    """The rating policy from the environment (prefix ``VOXPOP_``) or a site's table."""

    def label(key: str) -> str:
        return f"VOXPOP_{key.upper()}" if prefix == "VOXPOP_" else f"{prefix}{key}"

    def flag(key: str, fallback: bool) -> bool:
        value = raw.get(key)
        if value is None:
            return fallback
        return value if isinstance(value, bool) else _bool(label(key), str(value))

    allowance = raw.get("rating_allowance")
    return RatingPolicy(
        enabled=flag("ratings", default.enabled),
        guests=flag("rating_guests", default.guests),
        changes=flag("rating_changes", default.changes),
        allowance=default.allowance
        if allowance is None
        else _int(label("rating_allowance"), str(allowance)),
    )


def _dev_secret(database_url: str) -> str:
    """A secret generated once for dev and kept beside the SQLite file."""
    folder = Path(".")
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        folder = Path(database_url.removeprefix("sqlite:///")).expanduser().resolve().parent
    path = folder / ".voxpop-dev-secret"
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except OSError:
        pass
    value = secrets.token_urlsafe(32)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
        path.chmod(0o600)
    except OSError:
        pass  # a read-only folder: tokens then last as long as the process
    return value


def load(environ: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Build Settings from the environment, the TOML file and ``overrides`` (tests)."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {s.name: s.default for s in SPECS}
    file_sites: dict[str, Any] = {}
    config_path = overrides.get("config") or env.get("VOXPOP_CONFIG", "")
    if config_path:
        try:
            data = tomllib.loads(Path(config_path).read_text())
        except OSError as exc:
            raise ConfigurationError(f"cannot read VOXPOP_CONFIG {config_path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{config_path} is not valid TOML: {exc}") from None
        file_sites = data.pop("sites", {}) or {}
        for key, value in data.items():
            if key not in _SPEC_NAMES:
                raise ConfigurationError(f"{config_path}: unknown setting {key!r}")
            raw[key] = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    for spec in SPECS:
        value = env.get("VOXPOP_" + spec.name.upper())
        if value is not None:
            raw[spec.name] = value
    raw.update(overrides)

    if raw["env"] not in ("dev", "production"):
        raise ConfigurationError(f"VOXPOP_ENV must be dev or production, not {raw['env']!r}")
    is_dev = raw["env"] == "dev"
    secret = raw["secret_key"]
    if not secret:
        if not is_dev:
            raise ConfigurationError(
                "VOXPOP_SECRET_KEY is not set; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        secret = _dev_secret(raw["database_url"])
    elif len(secret) < 16 and not is_dev:
        raise ConfigurationError("VOXPOP_SECRET_KEY must be at least 16 characters")
    db = raw["database_url"]
    if not db.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
        raise ConfigurationError("VOXPOP_DATABASE_URL must start with sqlite:/// or postgresql://")
    public_url = raw["public_url"].rstrip("/")
    moderation = _moderation("VOXPOP_MODERATION", raw["moderation"])
    language = _language("VOXPOP_LANGUAGE", raw["language"])

    default_origins = _origins("VOXPOP_ALLOWED_ORIGINS", raw["allowed_origins"]) or _origins(
        "VOXPOP_PUBLIC_URL", public_url
    )
    rating = _rating_policy(
        "VOXPOP_",
        {k: raw[k] for k in ("ratings", "rating_guests", "rating_changes", "rating_allowance")},
        RatingPolicy(True, True, True, 3),
    )
    # The environment's pair (or the file's top-level keys) is the default site's webhook.
    hook = _webhook("VOXPOP_WEBHOOK_", raw["webhook_url"], raw["webhook_secret"])
    sites = [
        SiteConfig(
            "default", "voxpop demo newsroom", default_origins, language, moderation, rating, *hook
        )
    ]
    for name, table in file_sites.items():
        if not isinstance(table, dict):
            raise ConfigurationError(f"[sites.{name}] must be a table")
        if name == "default":
            sites[0] = SiteConfig(
                "default",
                str(table.get("title", sites[0].title)),
                _origins(f"sites.{name}.origins", table.get("origins", [])) or default_origins,
                _language(f"sites.{name}.language", str(table.get("language", language))),
                _moderation(f"sites.{name}.moderation", str(table.get("moderation", moderation))),
                _rating_policy(f"sites.{name}.", table, rating),
                *(hook if hook[0] else _site_webhook(name, table)),
            )
            continue
        sites.append(
            SiteConfig(
                name,
                str(table.get("title", name)),
                _origins(f"sites.{name}.origins", table.get("origins", [])),
                _language(f"sites.{name}.language", str(table.get("language", language))),
                _moderation(f"sites.{name}.moderation", str(table.get("moderation", moderation))),
                _rating_policy(f"sites.{name}.", table, rating),
                *_site_webhook(name, table),
            )
        )
    smtp_timeout = _int("VOXPOP_SMTP_TIMEOUT", raw["smtp_timeout"], 1)
    mail_lease = _seconds("VOXPOP_MAIL_LEASE", raw["mail_lease"])
    if mail_lease - max(1.0, mail_lease / 10) - 2 * smtp_timeout < 1:
        raise ConfigurationError(
            "VOXPOP_MAIL_LEASE is too short for VOXPOP_SMTP_TIMEOUT: a worker starts a send only "
            "while it can finish (twice the timeout) well before its hold on the mail runs out; "
            f"make the lease at least {int(2 * smtp_timeout * 1.12) + 2} seconds"
        )
    if any(s.webhook_url for s in sites) and mail_lease - max(1.0, mail_lease / 10) < 21:
        raise ConfigurationError(
            "VOXPOP_MAIL_LEASE is too short for webhooks: the worker starts a call only while "
            "it can finish (twice the 10-second timeout) well before its hold on it runs out; "
            "make the lease at least 25 seconds"
        )
    demo_raw = raw["demo"]
    return Settings(
        env=raw["env"],
        database_url=db,
        secret_key=secret,
        admin_token=raw["admin_token"],
        public_url=public_url,
        smtp_url=_smtp_url(raw["smtp_url"]),
        mail_from=raw["mail_from"],
        moderation=moderation,
        redis_url=_redis_url(raw["redis_url"]),
        rate_limits=_bool("VOXPOP_RATE_LIMITS", raw["rate_limits"]),
        webhook_url=hook[0],
        webhook_secret=hook[1],
        edit_window=_int("VOXPOP_EDIT_WINDOW", raw["edit_window"]),
        language=language,
        demo=_bool("VOXPOP_DEMO", demo_raw) if demo_raw else is_dev,
        max_body_bytes=_int("VOXPOP_MAX_BODY_BYTES", raw["max_body_bytes"], 1024),
        max_article_bytes=_int("VOXPOP_MAX_ARTICLE_BYTES", raw["max_article_bytes"], 1024),
        max_comment_chars=_int("VOXPOP_MAX_COMMENT_CHARS", raw["max_comment_chars"], 1),
        post_rate=_rate("VOXPOP_POST_RATE", raw["post_rate"]),
        vote_rate=_rate("VOXPOP_VOTE_RATE", raw["vote_rate"]),
        rating_rate=_rate("VOXPOP_RATING_RATE", raw["rating_rate"]),
        anchor_rate=_rate("VOXPOP_ANCHOR_RATE", raw["anchor_rate"]),
        rating_trust_verified=_bool("VOXPOP_RATING_TRUST_VERIFIED", raw["rating_trust_verified"]),
        rating_prior=_int("VOXPOP_RATING_PRIOR", raw["rating_prior"]),
        trusted_proxies=tuple(p.strip() for p in raw["trusted_proxies"].split(",") if p.strip()),
        workers=_int("VOXPOP_WORKERS", raw["workers"], 1),
        mail_worker=_bool("VOXPOP_MAIL_WORKER", raw["mail_worker"]),
        smtp_connections=_int("VOXPOP_SMTP_CONNECTIONS", raw["smtp_connections"], 1),
        smtp_timeout=smtp_timeout,
        mail_retry_base=_seconds("VOXPOP_MAIL_RETRY_BASE", raw["mail_retry_base"]),
        mail_max_attempts=_int("VOXPOP_MAIL_MAX_ATTEMPTS", raw["mail_max_attempts"], 1),
        mail_lease=mail_lease,
        mail_poll=_seconds("VOXPOP_MAIL_POLL", raw["mail_poll"]),
        mail_retention=_int("VOXPOP_MAIL_RETENTION", raw["mail_retention"], 1),
        digest_hour=_hour("VOXPOP_DIGEST_HOUR", raw["digest_hour"]),
        confirm_ttl=_int("VOXPOP_CONFIRM_TTL", raw["confirm_ttl"], 60),
        confirm_limit=_rate("VOXPOP_CONFIRM_LIMIT", raw["confirm_limit"]),
        subscribe_rate=_rate("VOXPOP_SUBSCRIBE_RATE", raw["subscribe_rate"]),
        session_ttl=_int("VOXPOP_SESSION_TTL", raw["session_ttl"], 60),
        login_rate=_rate("VOXPOP_LOGIN_RATE", raw["login_rate"]),
        flag_rate=_rate("VOXPOP_FLAG_RATE", raw["flag_rate"]),
        flag_threshold=_int("VOXPOP_FLAG_THRESHOLD", raw["flag_threshold"]),
        hold_new_authors=_bool("VOXPOP_HOLD_NEW_AUTHORS", raw["hold_new_authors"]),
        spam_hold=_probability("VOXPOP_SPAM_HOLD", raw["spam_hold"]),
        spam_reject=_probability("VOXPOP_SPAM_REJECT", raw["spam_reject"]),
        min_submit_seconds=_seconds(
            "VOXPOP_MIN_SUBMIT_SECONDS", raw["min_submit_seconds"], zero=True
        ),
        akismet_key=raw["akismet_key"],
        akismet_url=raw["akismet_url"].rstrip("/"),
        address_retention=_int("VOXPOP_ADDRESS_RETENTION", raw["address_retention"], 1),
        sites=tuple(sites),
    )
