"""What every service verb gets explicitly: settings, database, sites, limiter, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voxpop.errors import OriginNotAllowed, UnknownSite
from voxpop.model import Site
from voxpop.services.memo import Memo
from voxpop.services.ratelimit import Limiter, MemoryLimiter, NoLimiter, RedisLimiter
from voxpop.settings import Settings
from voxpop.store import sites as site_store
from voxpop.store.db import Database
from voxpop.store.versions import VersionReader


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    db: Database
    limiter: Limiter
    sites: dict[str, Site] = field(default_factory=dict)
    clock: Callable[[], datetime] = _now
    versions: VersionReader | None = None
    # (site id, uri) → (article id, has a title); reader ids known to exist.
    article_ids: Memo[tuple[int, str], tuple[int, bool]] = field(default_factory=Memo)
    readers: Memo[int, bool] = field(default_factory=Memo)
    # (site id, uri) → (article id, revision, canonical text) of current revisions;
    # (article id, version, length, hash of a page's text) → where its feedback lies.
    texts: Memo[tuple[int, str], tuple[int, int, str]] = field(default_factory=lambda: Memo(64))
    located: Memo[tuple[int, int, int, str], Any] = field(default_factory=lambda: Memo(256))
    # (site id, limit) → (monotonic time, ranking) of /articles/top.
    ranked: Memo[tuple[int, int], tuple[float, Any]] = field(default_factory=lambda: Memo(64))

    # Each site's word lists, compiled (services.moderation).
    words: Any = None
    # The Akismet client when VOXPOP_AKISMET_KEY is set (voxpop.spam.akismet.Akismet).
    akismet: Any = None
    # Sign-in attempts are limited even when VOXPOP_RATE_LIMITS is off (then in process).
    login_limiter: Limiter | None = None

    # Wakes the in-process outbox worker after a commit that queued mail (none: no-op).
    mail_wakeup: Callable[[], None] | None = None

    # This process's live-update hub (services.events.Hub) while the server runs.
    events: Any = None

    def wake_events(self) -> None:
        """After a commit that wrote live-update rows: let the hub number and send them."""
        if self.events is not None:
            self.events.written()

    def wake_mailer(self) -> None:
        if self.mail_wakeup is not None:
            self.mail_wakeup()

    def __post_init__(self) -> None:
        if self.versions is None:
            self.versions = VersionReader(self.db)
        if self.login_limiter is None:
            self.login_limiter = self.limiter if self.settings.rate_limits else MemoryLimiter()
        if self.words is None:
            from voxpop.services.moderation import WordLists

            self.words = WordLists()

    def site(self, name: str) -> Site:
        site = self.sites.get(name)
        if site is None:
            raise UnknownSite(f"No site named {name!r} is configured")
        return site

    def site_by_id(self, site_id: int | None) -> Site | None:
        """The configured site with this row id (None: not configured, or no id)."""
        return next((s for s in self.sites.values() if s.id == site_id), None)

    def check_origin(self, site: Site, origin: str | None) -> None:
        """A browser call from another origin must come from one the site allows."""
        if origin is None or origin_allowed(self.settings, site, origin):
            return
        raise OriginNotAllowed(f"{origin} may not use site {site.name!r}; add it to its origins")


def origin_allowed(settings: Settings, site: Site, origin: str) -> bool:
    origin = origin.rstrip("/")
    if origin in site.origins or origin == settings.public_url:
        return True
    if settings.is_dev:
        for local in ("http://localhost", "http://127.0.0.1"):
            if origin == local or origin.startswith(local + ":"):
                return True
    return False


def open_context(settings: Settings, db: Database | None = None) -> Context:
    """Connect, ensure every configured site has its row, and choose the limiter."""
    db = db or Database(settings.database_url, synchronous=settings.sqlite_synchronous)
    if settings.database_replica_url and db.replica_url is None:
        db.attach_replica(settings.database_replica_url)  # read by services.threads
    with db.write() as conn:
        ids = site_store.ensure(conn, [s.name for s in settings.sites])
    sites = {
        s.name: Site(
            ids[s.name],
            s.name,
            s.title,
            s.origins,
            s.language,
            s.moderation,
            s.rating,
            s.webhook_url,
            s.webhook_secret,
        )  # fmt: skip
        for s in settings.sites
    }
    limiter: Limiter = NoLimiter()
    if settings.rate_limits:
        limiter = RedisLimiter(settings.redis_url) if settings.redis_url else MemoryLimiter()
    akismet = None
    if settings.akismet_key:
        from voxpop.spam.akismet import Akismet

        akismet = Akismet(settings.akismet_key, settings.public_url, settings.akismet_url)
    return Context(settings=settings, db=db, limiter=limiter, sites=sites, akismet=akismet)
