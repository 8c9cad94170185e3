"""The desk's baseline: customers and appointments (as in schema_version 1).

Revision ID: desk_0001
Branch: desk
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from callcrew.store.models import UTCDateTime

revision = "desk_0001"
down_revision = None
branch_labels = ("desk",)
depends_on = None


def upgrade() -> None:
    # A store made before migrations already has the tables: the baseline is only recorded.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "customers" not in existing:
        op.create_table(
            "customers",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("phone", sa.String(32), nullable=True, unique=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
        )
    if "appointments" not in existing:
        op.create_table(
            "appointments",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
            sa.Column("service_id", sa.String(64), nullable=False),
            sa.Column("start_at", UTCDateTime(), nullable=False),
            sa.Column("end_at", UTCDateTime(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("call_id", sa.String(64), nullable=True),
            sa.Column("created_at", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            sa.CheckConstraint("status IN ('booked', 'cancelled')", name="ck_appointments_status"),
            sa.CheckConstraint("end_at > start_at", name="ck_appointments_order"),
        )
        op.create_index("ix_appointments_customer_id", "appointments", ["customer_id"])
        op.create_index("ix_appointments_status_start", "appointments", ["status", "start_at"])


def downgrade() -> None:
    op.drop_table("appointments")
    op.drop_table("customers")
