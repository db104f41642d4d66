"""Command line: ``voxpop serve | worker | migrate | check-config``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from voxpop import __version__
from voxpop.errors import ConfigurationError
from voxpop.settings import Settings, load


def _settings() -> Settings:
    try:
        return load()
    except ConfigurationError as exc:
        print(f"voxpop: {exc.detail}", file=sys.stderr)
        raise SystemExit(2) from None


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
        print(
            "voxpop: note: on SQLite one process writes at a time; extra workers add read "
            "capacity but make concurrent writes queue across processes (slower, spikier). "
            "One worker serves thousands of reads per second.",
            file=sys.stderr,
        )
    where = settings.database_url
    print(
        f"voxpop {__version__}: serving http://{args.host}:{args.port}/ "
        f"({'demo site, ' if settings.demo else ''}{where}, {workers} worker(s))",
        file=sys.stderr,
    )
    if settings.is_dev and not os.environ.get("VOXPOP_SECRET_KEY"):
        print(
            "voxpop: dev mode with a generated secret key; set VOXPOP_ENV=production "
            "and VOXPOP_SECRET_KEY for real use",
            file=sys.stderr,
        )
    uvicorn.run(
        "voxpop.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=workers,
        log_level=args.log_level,
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
    print(f"voxpop {__version__}: outbox worker {mailer.name} sending to {where}", file=sys.stderr)

    async def main() -> int:
        if args.once:
            stats = await mailer.drain()
            await mailer.sender.close()
            print(
                f"voxpop: sent {stats.sent}, retrying {stats.retried}, failed {stats.failed}, "
                f"dropped {stats.dropped}",
                file=sys.stderr,
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


def check_config(_args: argparse.Namespace) -> int:
    settings = _settings()
    print(f"voxpop: configuration is valid ({settings.env}, {len(settings.sites)} site(s))")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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

    p = sub.add_parser("check-config", help="validate the settings and exit")
    p.set_defaults(func=check_config)

    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
