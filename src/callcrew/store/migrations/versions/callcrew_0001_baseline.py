"""The engine's baseline: call reports and the outbox (the tables of schema_version 1).

Revision ID: callcrew_0001
Branch: callcrew
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callcrew.store.models import UTCDateTime

revision = "callcrew_0001"
down_revision = None
branch_labels = ("callcrew",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # A store made before migrations (its `schema_version` table) already has these tables:
    # the baseline is then only recorded, and the old version table dropped.
    existing = set(sa.inspect(bind).get_table_names())
    if "call_reports" not in existing:
        op.create_table(
            "call_reports",
            sa.Column("call_id", sa.String(64), primary_key=True),
            sa.Column("room", sa.String(200), nullable=True),
            sa.Column("channel", sa.String(16), nullable=True),
            sa.Column("caller_number", sa.String(32), nullable=True),
            sa.Column("started_at", UTCDateTime(), nullable=True),
            sa.Column("ended_at", UTCDateTime(), nullable=True),
            sa.Column("outcome", sa.String(32), nullable=True),
            sa.Column("stack", sa.String(64), nullable=True),
            sa.Column("report", sa.JSON(), nullable=False),
        )
        op.create_index("ix_call_reports_channel", "call_reports", ["channel"])
        op.create_index("ix_call_reports_started_at", "call_reports", ["started_at"])
        op.create_index("ix_call_reports_outcome", "call_reports", ["outcome"])
    if "outbox" not in existing:
        op.create_table(
            "outbox",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("kind", sa.String(64), nullable=False),
            sa.Column("payload", sa.JSON(), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False),
            sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
            sa.Column("last_error", sa.Text(), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("delivered_at", UTCDateTime(), nullable=True),
        )
        op.create_index("ix_outbox_pending", "outbox", ["delivered_at", "next_attempt_at"])
    if "schema_version" in existing:
        op.drop_table("schema_version")


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("call_reports")
