"""live update events, and indexes for big threads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 01:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import voxpop.store.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", voxpop.store.schema.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_events_article_id_articles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_events_seq")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_article_seq", "events", ["article_id", "seq"])
    op.create_index(
        "ix_events_unsequenced",
        "events",
        ["id"],
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    )
    op.create_index("ix_events_created", "events", ["created_at"])
    op.create_index("ix_events_comment", "events", ["comment_id"])
    _indexes_up()


def _indexes_up() -> None:
    # Top-level pages in index order (was: every top-level comment read and sorted).
    op.drop_index("ix_comments_top_new", table_name="comments")
    op.drop_index("ix_comments_top_best", table_name="comments")
    top: dict[str, Any] = {
        "sqlite_where": sa.text("root_id IS NULL"),
        "postgresql_where": sa.text("root_id IS NULL"),
    }
    op.create_index(
        "ix_comments_top_best", "comments", ["article_id", sa.text("score DESC"), "id"], **top
    )
    op.create_index("ix_comments_top_new", "comments", ["article_id", "created_at", "id"], **top)
    flagged: dict[str, Any] = {
        "sqlite_where": sa.text("flags > 0"),
        "postgresql_where": sa.text("flags > 0"),
    }
    op.create_index(
        "ix_comments_site_flagged", "comments", ["site_id", "created_at", "id"], **flagged
    )
    feedback = sa.text("anchor IS NOT NULL AND status = 'approved'")
    op.create_index(
        "ix_comments_feedback",
        "comments",
        ["article_id"],
        sqlite_where=feedback,
        postgresql_where=feedback,
    )
    op.create_index("ix_votes_reader", "votes", ["reader_id"])


def _indexes_down() -> None:
    op.drop_index("ix_votes_reader", table_name="votes")
    op.drop_index("ix_comments_feedback", table_name="comments")
    op.drop_index("ix_comments_site_flagged", table_name="comments")
    op.drop_index("ix_comments_top_new", table_name="comments")
    op.drop_index("ix_comments_top_best", table_name="comments")
    op.create_index("ix_comments_top_best", "comments", ["article_id", "root_id", "score", "id"])
    op.create_index(
        "ix_comments_top_new", "comments", ["article_id", "root_id", "created_at", "id"]
    )


def downgrade() -> None:
    _indexes_down()
    op.drop_index("ix_events_comment", table_name="events")
    op.drop_index("ix_events_created", table_name="events")
    op.drop_index("ix_events_unsequenced", table_name="events")
    op.drop_index("ix_events_article_seq", table_name="events")
    op.drop_table("events")
