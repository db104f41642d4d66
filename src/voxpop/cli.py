"""Command line: ``voxpop serve | worker | migrate | import | export | create-admin |
check-config``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from voxpop import __version__
from voxpop.errors import ConfigurationError
from voxpop.settings import Settings, load
from voxpop.settings.logs import configure as configure_logging
from voxpop.settings.logs import log_config

log = logging.getLogger("voxpop.cli")


def _settings() -> Settings:
    try:
        settings = load()
    except ConfigurationError as exc:
        print(f"voxpop: {exc.detail}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_format)
    return settings


def _note(settings: Settings, text: str) -> None:
    """A line for the operator on stderr; with JSON logs a log record, so that every line
    is one JSON object."""
    if settings.log_format == "json":
        log.info(text.removeprefix("voxpop: "))
    else:
        print(text, file=sys.stderr)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from voxpop.store import migrate
    from voxpop.store.db import Database

    settings = _settings()
    if not args.no_migrate:
        db = Database(settings.database_url)
        migrate.upgrade(db)
        db.dispose()
    workers = args.workers or settings.workers
    if workers > 1 and settings.is_sqlite:
        _note(
            settings,
            "voxpop: note: on SQLite the workers take turns at writing (a lock file beside "
            "the database): one worker per core adds write capacity, more workers than "
            "cores add nothing. One worker serves thousands of reads per second.",
        )
    where = settings.database_url
    _note(
        settings,
        f"voxpop {__version__}: serving http://{args.host}:{args.port}/ "
        f"({'demo site, ' if settings.demo else ''}{where}, {workers} worker(s))",
    )
    if settings.is_dev and not os.environ.get("VOXPOP_SECRET_KEY"):
        _note(
            settings,
            "voxpop: dev mode with a generated secret key; set VOXPOP_ENV=production "
            "and VOXPOP_SECRET_KEY for real use",
        )
    uvicorn.run(
        "voxpop.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        # Levels are set by the log config: uvicorn's own ``log_level`` would also hold
        # the access log (INFO) back below ``--log-level warning``.
        log_config=log_config(settings.log_format, server_level=args.log_level.upper()),
        log_level=None,
        access_log=args.access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def worker(args: argparse.Namespace) -> int:
    """Drain the outbox: until stopped (SIGTERM, Ctrl-C), or once with ``--once``."""
    import asyncio
    import signal

    from voxpop.services.context import open_context
    from voxpop.services.delivery import Mailer

    settings = _settings()
    ctx = open_context(settings)
    mailer = Mailer(ctx)
    where = (
        settings.smtp_url.split("@")[-1] if settings.smtp_url else "the log (no VOXPOP_SMTP_URL)"
    )
    _note(settings, f"voxpop {__version__}: outbox worker {mailer.name} sending to {where}")

    async def main() -> int:
        if args.once:
            stats = await mailer.drain()
            await mailer.sender.close()
            _note(
                settings,
                f"voxpop: sent {stats.sent}, retrying {stats.retried}, failed {stats.failed}, "
                f"dropped {stats.dropped}",
            )
            return 0
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await mailer.run(stop)
        return 0

    try:
        return asyncio.run(main())
    finally:
        ctx.db.dispose()


def migrate_cmd(_args: argparse.Namespace) -> int:
    from voxpop.store import migrate
    from voxpop.store.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    before = migrate.current(db)
    migrate.upgrade(db)
    after = migrate.current(db)
    print(f"voxpop: database at revision {after} (was {before or 'empty'})")
    db.dispose()
    return 0


def create_admin(args: argparse.Namespace) -> int:
    """Create an account (an admin on every site unless told otherwise), asking for its
    password on the terminal, or reading it from VOXPOP_ADMIN_PASSWORD."""
    import getpass
    import os

    from voxpop import errors
    from voxpop.model import ALL_SITES
    from voxpop.services import accounts
    from voxpop.services.context import open_context
    from voxpop.store import migrate
    from voxpop.store.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    migrate.upgrade(db)
    ctx = open_context(settings, db)
    secret = os.environ.get("VOXPOP_ADMIN_PASSWORD", "")
    if not secret:
        try:
            secret = getpass.getpass(f"Password for {args.username} (at least 12 characters): ")
            again = getpass.getpass("Again: ")
        except (EOFError, KeyboardInterrupt):
            print("\nvoxpop: no password given; nothing was created", file=sys.stderr)
            return 2
        if again != secret:
            print("voxpop: the passwords differ; nothing was created", file=sys.stderr)
            return 2
    try:
        site, role = accounts.role_on(args.site, args.role, set(ctx.sites))
        accounts.create_account(ctx, "cli", args.username, secret, [(site, role)])
    except errors.VoxpopError as exc:
        print(f"voxpop: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    where = "every site" if site == ALL_SITES else f"site {site}"
    print(
        f"voxpop: account {args.username.strip().lower()} created ({args.role} on {where}); "
        "sign in at /admin"
    )
    return 0


class _Bar:
    """Progress on stderr: a redrawn bar on a terminal, a line per tenth otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total = max(total, 1)
        self.label = label
        self.tty = sys.stderr.isatty()
        self.shown = -1
        self.started = time.monotonic()

    def update(self, done: int, note: str) -> None:
        share = min(done / self.total, 1.0)
        tenth = int(share * 10)
        if not self.tty and tenth == self.shown:
            return
        self.shown = tenth
        filled = int(share * 30)
        line = f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} {note}"
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.tty and self.shown >= 0:
            print(file=sys.stderr)


def import_cmd(args: argparse.Namespace) -> int:
    """Bring another system's comments in, or restore a voxpop export."""
    from voxpop import errors
    from voxpop.importers.records import SourceError
    from voxpop.store import migrate
    from voxpop.store.db import Database

    settings = _settings()
    if not os.path.isfile(args.file):
        print(f"voxpop: no file {args.file}", file=sys.stderr)
        return 2
    db = Database(settings.database_url)
    migrate.upgrade(db)
    bar = _Bar(os.path.getsize(args.file), f"importing {os.path.basename(args.file)}")
    try:
        if args.source == "voxpop":
            return _restore(db, args.file)
        from voxpop.services import importing
        from voxpop.services.context import open_context

        ctx = open_context(settings, db)
        if settings.is_sqlite and not args.dry_run:
            print(
                "voxpop: note: on SQLite this import holds the write lock until it ends; a "
                "running server's writes wait until it ends",
                file=sys.stderr,
            )
        uri_map = importing.load_uri_map(args.uri_map) if args.uri_map else {}

        def progress(done: int, summary: importing.Summary) -> None:
            rate = summary.posts / max(time.monotonic() - bar.started, 1e-3)
            bar.update(done, f"{summary.posts:,} posts, {rate:,.0f}/s")

        summary = importing.run(
            ctx,
            args.source,
            args.file,
            site=args.site,
            dry_run=args.dry_run,
            uri_map=uri_map,
            keep_query=args.keep_query,
            progress=progress,
            processes=args.jobs,
        )
        bar.update(bar.total, f"{summary.posts:,} posts")
        bar.finish()
    except SourceError as exc:
        bar.finish()
        print(f"voxpop: {args.file}: {exc}; nothing was imported", file=sys.stderr)
        return 1
    except errors.VoxpopError as exc:
        bar.finish()
        print(f"voxpop: {exc.detail}; nothing was imported", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    statuses = ", ".join(f"{n:,} {s}" for s, n in sorted(summary.statuses.items())) or "none"
    verb = "would import" if summary.dry_run else "imported"
    print(
        f"voxpop: {verb} {summary.created:,} comments ({statuses}) into site {summary.site} "
        f"in {summary.seconds:.1f} s\n"
        f"  threads: {summary.threads:,} ({summary.articles_created:,} new articles)\n"
        f"  posts in the file: {summary.posts:,}; already imported before: {summary.already:,}\n"
        f"  replies made top-level (parent missing): {summary.orphans:,}\n"
        f"  dropped invalid e-mail addresses: {summary.dropped_emails:,}, "
        f"websites: {summary.dropped_websites:,}"
        + ("\n  dry run: nothing was written" if summary.dry_run else "")
    )
    return 0


def _table_progress() -> Any:
    """Rows done per table on stderr, redrawn on a terminal."""
    tty = sys.stderr.isatty()

    def progress(table: str, done: int) -> None:
        if done:
            line = f"  {table}: {done:,} rows"
            print(f"\r{line:<60}" if tty else line, end="" if tty else "\n", file=sys.stderr)

    return progress


def _restore(db: Any, path: str) -> int:
    from voxpop.services import archive

    progress = _table_progress()

    counts = archive.restore(db, path, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    total = sum(counts.values())
    print(f"voxpop: restored {total:,} rows from {path} ({len(counts)} tables)")
    return 0


def export_cmd(args: argparse.Namespace) -> int:
    """Write everything to one JSON document (gzip when FILE ends in .gz)."""
    from voxpop.services import archive
    from voxpop.store.db import Database

    settings = _settings()
    db = Database(settings.database_url)

    progress = _table_progress()

    try:
        counts = archive.export(db, args.file, progress)
    except OSError as exc:
        print(f"\nvoxpop: cannot write {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    if sys.stderr.isatty():
        print(file=sys.stderr)
    summary = ", ".join(f"{n:,} {name}" for name, n in counts.items() if n)
    print(f"voxpop: exported to {args.file}: {summary or 'an empty database'}")
    return 0


def check_config(_args: argparse.Namespace) -> int:
    settings = _settings()
    print(f"voxpop: configuration is valid ({settings.env}, {len(settings.sites)} site(s))")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Migrating says so in its own words; Alembic's step-by-step lines are noise here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="voxpop", description="Reader engagement for news sites")
    parser.add_argument("--version", action="version", version=f"voxpop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the API, the widget and the pages")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=0, help="processes (default VOXPOP_WORKERS)")
    p.add_argument("--no-migrate", action="store_true", help="do not migrate on start")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--access-log", action="store_true")
    p.set_defaults(func=serve)

    p = sub.add_parser("worker", help="send the queued e-mail (the outbox) until stopped")
    p.add_argument("--once", action="store_true", help="send what is due now, then exit")
    p.set_defaults(func=worker)

    p = sub.add_parser("migrate", help="upgrade the database to the current schema")
    p.set_defaults(func=migrate_cmd)

    p = sub.add_parser("create-admin", help="create an admin or moderator account")
    p.add_argument("username")
    p.add_argument("--role", choices=["admin", "moderator"], default="admin")
    p.add_argument("--site", default="*", help="the site of the role (default *: every site)")
    p.set_defaults(func=create_admin)

    p = sub.add_parser(
        "import",
        help="import comments from disqus, wordpress, isso, remark42, or a voxpop export",
        description="Import comments from another system's export (run it again: nothing is "
        "added twice), or restore a `voxpop export` into an empty database.",
    )
    p.add_argument("source", choices=["disqus", "wordpress", "isso", "remark42", "voxpop"])
    p.add_argument("file", help="the export file (Isso: its SQLite database)")
    p.add_argument("--site", default="default", help="the site to import into (default: default)")
    p.add_argument(
        "--dry-run", action="store_true", help="read and check everything, write nothing"
    )
    p.add_argument(
        "--uri-map", metavar="CSV", help="a CSV file of `source URL,uri` lines overriding the rule"
    )
    p.add_argument(
        "--keep-query", action="store_true", help="keep URLs' query strings in article uris"
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="processes converting comment bodies in a big import (default: one per core; 1: "
        "this process only)",
    )
    p.set_defaults(func=import_cmd)

    p = sub.add_parser("export", help="write everything to one JSON document")
    p.add_argument("file", help="where to write it (gzip when it ends in .gz)")
    p.set_defaults(func=export_cmd)

    p = sub.add_parser("check-config", help="validate the settings and exit")
    p.set_defaults(func=check_config)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
