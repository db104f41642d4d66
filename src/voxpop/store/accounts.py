"""Accounts of moderators and admins, their roles per site, and their sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import account_roles, accounts, sessions


def by_username(conn: Connection, username: str) -> Any | None:
    return conn.execute(sa.select(accounts).where(accounts.c.username == username)).first()


def create(conn: Connection, username: str, password_hash: str, now: datetime) -> int:
    return int(
        conn.execute(
            sa.insert(accounts)
            .values(username=username, password_hash=password_hash, created_at=now)
            .returning(accounts.c.id)
        ).scalar_one()
    )


def set_password(conn: Connection, account_id: int, password_hash: str) -> None:
    conn.execute(
        sa.update(accounts).where(accounts.c.id == account_id).values(password_hash=password_hash)
    )


def set_disabled(conn: Connection, account_id: int, at: datetime | None) -> None:
    conn.execute(sa.update(accounts).where(accounts.c.id == account_id).values(disabled_at=at))
    if at is not None:
        conn.execute(sa.delete(sessions).where(sessions.c.account_id == account_id))


def logged_in(conn: Connection, account_id: int, now: datetime) -> None:
    conn.execute(sa.update(accounts).where(accounts.c.id == account_id).values(last_login_at=now))


def set_role(conn: Connection, account_id: int, site: str, role: str | None) -> None:
    conn.execute(
        sa.delete(account_roles).where(
            account_roles.c.account_id == account_id, account_roles.c.site == site
        )
    )
    if role is not None:
        conn.execute(sa.insert(account_roles).values(account_id=account_id, site=site, role=role))


def roles(conn: Connection, account_id: int) -> list[tuple[str, str]]:
    rows = conn.execute(
        sa.select(account_roles.c.site, account_roles.c.role)
        .where(account_roles.c.account_id == account_id)
        .order_by(account_roles.c.site)
    )
    return [(str(r.site), str(r.role)) for r in rows]


def listing(conn: Connection) -> list[Any]:
    """Every account with its roles as ``site:role`` pairs (one query)."""
    rows = conn.execute(
        sa.select(accounts, account_roles.c.site, account_roles.c.role)
        .outerjoin(account_roles, account_roles.c.account_id == accounts.c.id)
        .order_by(accounts.c.username, account_roles.c.site)
    ).all()
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = out.setdefault(
            int(r.id),
            {
                "id": int(r.id),
                "username": r.username,
                "created_at": r.created_at,
                "last_login_at": r.last_login_at,
                "disabled_at": r.disabled_at,
                "roles": [],
            },
        )
        if r.site is not None:
            entry["roles"].append((r.site, r.role))
    return list(out.values())


def create_session(
    conn: Connection, session_id: str, account_id: int, csrf: str, now: datetime, expires: datetime
) -> None:
    conn.execute(
        sa.insert(sessions).values(
            id=session_id, account_id=account_id, csrf=csrf, created_at=now, expires_at=expires
        )
    )


_SESSION = (
    sa.select(
        sessions.c.csrf,
        sessions.c.expires_at,
        accounts.c.id.label("account_id"),
        accounts.c.username,
        account_roles.c.site,
        account_roles.c.role,
    )
    .join(accounts, accounts.c.id == sessions.c.account_id)
    .outerjoin(account_roles, account_roles.c.account_id == accounts.c.id)
    .where(sessions.c.id == sa.bindparam("sid"), accounts.c.disabled_at.is_(None))
)


def session(conn: Connection, session_id: str) -> list[Any]:
    """The session's rows, one per role of its account (none: no such live session)."""
    return list(conn.execute(_SESSION, {"sid": session_id}))


def delete_session(conn: Connection, session_id: str) -> None:
    conn.execute(sa.delete(sessions).where(sessions.c.id == session_id))


def prune_sessions(conn: Connection, now: datetime) -> int:
    return int(conn.execute(sa.delete(sessions).where(sessions.c.expires_at < now)).rowcount)
