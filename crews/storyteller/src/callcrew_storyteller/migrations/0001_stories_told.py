"""stories_told: every story the storyteller told (the storyteller branch's baseline).

Revision ID: storyteller_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "storyteller_0001"
down_revision = None
branch_labels = ("storyteller",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stories_told",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("listener", sa.String(80), nullable=False),
        sa.Column("location", sa.String(120), nullable=False),
        sa.Column("theme", sa.String(60), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("told_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_stories_told_call_id", "stories_told", ["call_id"])


def downgrade() -> None:
    op.drop_index("ix_stories_told_call_id", table_name="stories_told")
    op.drop_table("stories_told")
