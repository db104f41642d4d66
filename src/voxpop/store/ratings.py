"""Ratings: one per reader and article; the article row carries the counted aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.model import RatingTally
from voxpop.store.schema import articles, ratings, readers
from voxpop.store.upsert import insert_ignore

_HISTOGRAM = tuple(articles.c[f"rating_{stars}"] for stars in range(1, 6))
_TALLY_COLS = (articles.c.rating_count, articles.c.rating_sum, *_HISTOGRAM)

_TALLY = sa.select(*_TALLY_COLS).where(articles.c.id == sa.bindparam("article_id"))
_MINE = sa.select(ratings.c.stars, ratings.c.counted).where(
    ratings.c.article_id == sa.bindparam("article_id"),
    ratings.c.reader_id == sa.bindparam("reader_id"),
)
_MINE_LOCKED = _MINE.with_for_update()
_COUNTED_FROM = sa.select(sa.func.count()).where(
    ratings.c.article_id == sa.bindparam("article_id"),
    ratings.c.address_hash == sa.bindparam("address_hash"),
    ratings.c.counted.is_(True),
)
_UPDATE = (
    sa.update(ratings)
    .where(
        ratings.c.article_id == sa.bindparam("b_article_id"),
        ratings.c.reader_id == sa.bindparam("b_reader_id"),
    )
    .values(stars=sa.bindparam("b_stars"), updated_at=sa.bindparam("b_now"))
)
_DELETE = sa.delete(ratings).where(
    ratings.c.article_id == sa.bindparam("article_id"),
    ratings.c.reader_id == sa.bindparam("reader_id"),
)
_VERIFIED = sa.select(readers.c.verified_at).where(readers.c.id == sa.bindparam("reader_id"))
_SITE_MEAN = sa.select(
    sa.func.coalesce(sa.func.sum(articles.c.rating_sum), 0),
    sa.func.coalesce(sa.func.sum(articles.c.rating_count), 0),
).where(articles.c.site_id == sa.bindparam("site_id"), articles.c.rating_count > 0)


@dataclass(frozen=True, slots=True)
class Stored:
    stars: int
    counted: bool


def tally_of(row: Any) -> RatingTally:
    histogram = tuple(int(row[f"rating_{stars}"]) for stars in range(1, 6))
    return RatingTally(int(row["rating_count"]), int(row["rating_sum"]), histogram)  # type: ignore[arg-type]


def tally(conn: Connection, article_id: int) -> RatingTally:
    row = conn.execute(_TALLY, {"article_id": article_id}).mappings().first()
    return tally_of(row) if row else RatingTally.EMPTY


def mine(conn: Connection, article_id: int, reader_id: int) -> Stored | None:
    row = conn.execute(_MINE, {"article_id": article_id, "reader_id": reader_id}).first()
    return Stored(int(row.stars), bool(row.counted)) if row else None


def mine_for_update(conn: Connection, article_id: int, reader_id: int) -> Stored | None:
    stmt = _MINE_LOCKED if conn.dialect.name == "postgresql" else _MINE
    row = conn.execute(stmt, {"article_id": article_id, "reader_id": reader_id}).first()
    return Stored(int(row.stars), bool(row.counted)) if row else None


def counted_from(conn: Connection, article_id: int, address_hash: str) -> int:
    """Counted ratings of an article whose first rating came from this (day-salted) address."""
    params = {"article_id": article_id, "address_hash": address_hash}
    return int(conn.execute(_COUNTED_FROM, params).scalar_one())


def insert(
    conn: Connection,
    article_id: int,
    reader_id: int,
    stars: int,
    counted: bool,
    address_hash: str,
    now: datetime,
) -> bool:
    """Insert the reader's first rating; False when a racing request inserted it first."""
    result = insert_ignore(
        conn,
        ratings,
        article_id=article_id,
        reader_id=reader_id,
        stars=stars,
        counted=counted,
        address_hash=address_hash,
        created_at=now,
        updated_at=now,
    )
    return bool(result.rowcount)


def update(conn: Connection, article_id: int, reader_id: int, stars: int, now: datetime) -> None:
    conn.execute(
        _UPDATE,
        {"b_article_id": article_id, "b_reader_id": reader_id, "b_stars": stars, "b_now": now},
    )


def delete(conn: Connection, article_id: int, reader_id: int) -> None:
    conn.execute(
        sa.delete(ratings).where(
            ratings.c.article_id == article_id, ratings.c.reader_id == reader_id
        )
    )


def add(conn: Connection, article_id: int, removed: int | None, added: int | None) -> None:
    """Move the article's counted aggregate from ``removed`` stars to ``added`` stars (either
    may be None) with one atomic UPDATE: exact under concurrent raters on every backend."""
    conn.execute(_move(removed, added), {"article_id": article_id})


@cache
def _move(removed: int | None, added: int | None) -> sa.Update:
    """The UPDATE for one kind of change (at most 36 of them, each compiled once)."""
    values: dict[str, Any] = {
        "rating_count": articles.c.rating_count + ((added is not None) - (removed is not None)),
        "rating_sum": articles.c.rating_sum + ((added or 0) - (removed or 0)),
    }
    for stars in {removed, added} - {None}:
        assert stars is not None
        column = articles.c[f"rating_{stars}"]
        values[column.name] = column + ((stars == added) - (stars == removed))
    return sa.update(articles).where(articles.c.id == sa.bindparam("article_id")).values(**values)


def is_verified(conn: Connection, reader_id: int) -> bool:
    return conn.execute(_VERIFIED, {"reader_id": reader_id}).scalar() is not None


def site_mean(conn: Connection, site_id: int) -> tuple[int, int]:
    """(sum of stars, number of counted ratings) over a site's articles."""
    row = conn.execute(_SITE_MEAN, {"site_id": site_id}).one()
    return int(row[0]), int(row[1])


def top(
    conn: Connection, site_id: int, prior_mean: float, prior_weight: float, limit: int
) -> list[Any]:
    """A site's rated articles by damped average: (w·m + sum) / (w + count)."""
    damped = (sa.literal(prior_weight * prior_mean) + articles.c.rating_sum) / (
        sa.literal(prior_weight) + articles.c.rating_count
    )
    return list(
        conn.execute(
            sa.select(
                articles.c.id,
                articles.c.uri,
                articles.c.title,
                *_TALLY_COLS,
                damped.label("score"),
            )
            .where(articles.c.site_id == site_id, articles.c.rating_count > 0)
            .order_by(damped.desc(), articles.c.rating_count.desc(), articles.c.id)
            .limit(limit)
        ).mappings()
    )


def of_article(conn: Connection, article_id: int, limit: int, offset: int) -> list[Any]:
    """Every rating of an article, counted or not, newest first (moderators)."""
    return list(
        conn.execute(
            sa.select(ratings)
            .where(ratings.c.article_id == article_id)
            .order_by(ratings.c.updated_at.desc(), ratings.c.reader_id)
            .limit(limit)
            .offset(offset)
        ).mappings()
    )


def of_reader(conn: Connection, site_id: int, reader_id: int) -> list[Any]:
    """Every rating of one reader on a site's articles (moderators)."""
    return list(
        conn.execute(
            sa.select(ratings, articles.c.uri)
            .join(articles, articles.c.id == ratings.c.article_id)
            .where(ratings.c.reader_id == reader_id, articles.c.site_id == site_id)
        ).mappings()
    )
