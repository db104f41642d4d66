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

``docs/settings.md`` lists every setting; a test fails when one is missing there. The
sites are read in ``sites``, single values in ``values``.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voxpop.errors import ConfigurationError
from voxpop.model import Moderation, RatingPolicy
from voxpop.settings.logs import read_log_format
from voxpop.settings.sites import (
    LANGUAGES,
    SiteConfig,
    read_language,
    read_moderation,
    read_origins,
    read_rating_policy,
    read_sites,
    read_webhook,
)
from voxpop.settings.values import (
    Rate,
    read_bool,
    read_hour,
    read_int,
    read_probability,
    read_rate,
    read_redis_url,
    read_seconds,
    read_smtp_url,
)

__all__ = [
    "LANGUAGES",
    "SPECS",
    "Rate",
    "Settings",
    "SiteConfig",
    "Spec",
    "load",
    "sqlite_synchronous",
]


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
        "database_replica_url",
        "",
        "`postgresql://...` of a streaming read replica of a PostgreSQL primary: thread pages "
        "are read there when it is up to date with the article; empty: none.",
    ),
    Spec(
        "sqlite_synchronous",
        "full",
        "SQLite's durability: `full` (a comment is on disk when it is acknowledged: the WAL is "
        "fsynced at each commit, once per group of writes) or `normal` (a process crash loses "
        "nothing, a power loss or OS crash may lose the last commits).",
    ),
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
        "metrics_token",
        "",
        "Bearer token that `GET /metrics` (Prometheus) requires; empty: only loopback "
        "clients (not through a proxy) may read it.",
    ),
    Spec("log_format", "text", "`text` (a line per record) or `json` (an object per line)."),
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


@dataclass(frozen=True, slots=True)
class Settings:
    env: str
    database_url: str
    database_replica_url: str
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
    log_format: str = "text"
    metrics_token: str = field(default="", repr=False)
    sqlite_synchronous: str = "full"
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


_POSTGRES = ("postgresql://", "postgresql+psycopg://", "postgres://")


def _read_replica_url(database_url: str, raw: str) -> str:
    """A read replica is PostgreSQL, of a PostgreSQL primary (store.db checks it too)."""
    if not raw:
        return ""
    if not database_url.startswith(_POSTGRES):
        raise ConfigurationError(
            "VOXPOP_DATABASE_REPLICA_URL needs a PostgreSQL primary; VOXPOP_DATABASE_URL "
            "is SQLite, which has no read replicas"
        )
    if not raw.startswith(_POSTGRES):
        raise ConfigurationError(
            "VOXPOP_DATABASE_REPLICA_URL must be a postgresql:// URL of a streaming replica "
            "of VOXPOP_DATABASE_URL"
        )
    return raw


SQLITE_SYNCHRONOUS = ("normal", "full")


def read_sqlite_synchronous(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in SQLITE_SYNCHRONOUS:
        raise ConfigurationError(f"{name} must be normal or full, not {raw!r}")
    return value


def sqlite_synchronous(environ: Mapping[str, str] | None = None) -> str:
    """VOXPOP_SQLITE_SYNCHRONOUS as ``load`` finds it (the environment, then the TOML file
    named by VOXPOP_CONFIG, then the default): what a ``Database`` opened without it uses."""
    env = os.environ if environ is None else environ
    raw = env.get("VOXPOP_SQLITE_SYNCHRONOUS")
    if raw is None:
        raw = next(s.default for s in SPECS if s.name == "sqlite_synchronous")
        config_path = env.get("VOXPOP_CONFIG", "")
        if config_path:
            try:
                data = tomllib.loads(Path(config_path).read_text())
            except (OSError, tomllib.TOMLDecodeError):
                data = {}  # ``load`` reports it
            if "sqlite_synchronous" in data:
                raw = str(data["sqlite_synchronous"])
    return read_sqlite_synchronous("VOXPOP_SQLITE_SYNCHRONOUS", raw)


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
    replica = _read_replica_url(db, raw["database_replica_url"].strip())
    public_url = raw["public_url"].rstrip("/")
    moderation = read_moderation("VOXPOP_MODERATION", raw["moderation"])
    language = read_language("VOXPOP_LANGUAGE", raw["language"])

    default_origins = read_origins(
        "VOXPOP_ALLOWED_ORIGINS", raw["allowed_origins"]
    ) or read_origins("VOXPOP_PUBLIC_URL", public_url)
    rating = read_rating_policy(
        "VOXPOP_",
        {k: raw[k] for k in ("ratings", "rating_guests", "rating_changes", "rating_allowance")},
        RatingPolicy(True, True, True, 3),
    )
    # The environment's pair (or the file's top-level keys) is the default site's webhook.
    hook = read_webhook("VOXPOP_WEBHOOK_", raw["webhook_url"], raw["webhook_secret"])
    default = SiteConfig(
        "default", "voxpop demo newsroom", default_origins, language, moderation, rating, *hook
    )
    sites = read_sites(file_sites, default)
    smtp_timeout = read_int("VOXPOP_SMTP_TIMEOUT", raw["smtp_timeout"], 1)
    mail_lease = read_seconds("VOXPOP_MAIL_LEASE", raw["mail_lease"])
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
        database_replica_url=replica,
        secret_key=secret,
        admin_token=raw["admin_token"],
        public_url=public_url,
        smtp_url=read_smtp_url(raw["smtp_url"]),
        mail_from=raw["mail_from"],
        moderation=moderation,
        redis_url=read_redis_url(raw["redis_url"]),
        rate_limits=read_bool("VOXPOP_RATE_LIMITS", raw["rate_limits"]),
        webhook_url=hook[0],
        webhook_secret=hook[1],
        edit_window=read_int("VOXPOP_EDIT_WINDOW", raw["edit_window"]),
        language=language,
        demo=read_bool("VOXPOP_DEMO", demo_raw) if demo_raw else is_dev,
        max_body_bytes=read_int("VOXPOP_MAX_BODY_BYTES", raw["max_body_bytes"], 1024),
        max_article_bytes=read_int("VOXPOP_MAX_ARTICLE_BYTES", raw["max_article_bytes"], 1024),
        max_comment_chars=read_int("VOXPOP_MAX_COMMENT_CHARS", raw["max_comment_chars"], 1),
        post_rate=read_rate("VOXPOP_POST_RATE", raw["post_rate"]),
        vote_rate=read_rate("VOXPOP_VOTE_RATE", raw["vote_rate"]),
        rating_rate=read_rate("VOXPOP_RATING_RATE", raw["rating_rate"]),
        anchor_rate=read_rate("VOXPOP_ANCHOR_RATE", raw["anchor_rate"]),
        rating_trust_verified=read_bool(
            "VOXPOP_RATING_TRUST_VERIFIED", raw["rating_trust_verified"]
        ),
        rating_prior=read_int("VOXPOP_RATING_PRIOR", raw["rating_prior"]),
        trusted_proxies=tuple(p.strip() for p in raw["trusted_proxies"].split(",") if p.strip()),
        workers=read_int("VOXPOP_WORKERS", raw["workers"], 1),
        mail_worker=read_bool("VOXPOP_MAIL_WORKER", raw["mail_worker"]),
        smtp_connections=read_int("VOXPOP_SMTP_CONNECTIONS", raw["smtp_connections"], 1),
        smtp_timeout=smtp_timeout,
        mail_retry_base=read_seconds("VOXPOP_MAIL_RETRY_BASE", raw["mail_retry_base"]),
        mail_max_attempts=read_int("VOXPOP_MAIL_MAX_ATTEMPTS", raw["mail_max_attempts"], 1),
        mail_lease=mail_lease,
        mail_poll=read_seconds("VOXPOP_MAIL_POLL", raw["mail_poll"]),
        mail_retention=read_int("VOXPOP_MAIL_RETENTION", raw["mail_retention"], 1),
        digest_hour=read_hour("VOXPOP_DIGEST_HOUR", raw["digest_hour"]),
        confirm_ttl=read_int("VOXPOP_CONFIRM_TTL", raw["confirm_ttl"], 60),
        confirm_limit=read_rate("VOXPOP_CONFIRM_LIMIT", raw["confirm_limit"]),
        subscribe_rate=read_rate("VOXPOP_SUBSCRIBE_RATE", raw["subscribe_rate"]),
        session_ttl=read_int("VOXPOP_SESSION_TTL", raw["session_ttl"], 60),
        login_rate=read_rate("VOXPOP_LOGIN_RATE", raw["login_rate"]),
        flag_rate=read_rate("VOXPOP_FLAG_RATE", raw["flag_rate"]),
        flag_threshold=read_int("VOXPOP_FLAG_THRESHOLD", raw["flag_threshold"]),
        hold_new_authors=read_bool("VOXPOP_HOLD_NEW_AUTHORS", raw["hold_new_authors"]),
        spam_hold=read_probability("VOXPOP_SPAM_HOLD", raw["spam_hold"]),
        spam_reject=read_probability("VOXPOP_SPAM_REJECT", raw["spam_reject"]),
        min_submit_seconds=read_seconds(
            "VOXPOP_MIN_SUBMIT_SECONDS", raw["min_submit_seconds"], zero=True
        ),
        akismet_key=raw["akismet_key"],
        akismet_url=raw["akismet_url"].rstrip("/"),
        address_retention=read_int("VOXPOP_ADDRESS_RETENTION", raw["address_retention"], 1),
        log_format=read_log_format("VOXPOP_LOG_FORMAT", raw["log_format"]),
        metrics_token=raw["metrics_token"].strip(),
        sqlite_synchronous=read_sqlite_synchronous(
            "VOXPOP_SQLITE_SYNCHRONOUS", raw["sqlite_synchronous"]
        ),
        sites=sites,
    )
