"""Connection health samples: one row per supervisor health check, for reporting.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "connection_health_samples"


def upgrade() -> None:
    zero = sa.text("0")
    op.create_table(
        TABLE,
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("connection_id", sa.Text(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("checks", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("failures", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("reconnects", sa.Integer(), nullable=False, server_default=zero),
        sa.Column("degraded_seconds", sa.Float(), nullable=False, server_default=zero),
        sa.Column("failed_seconds", sa.Float(), nullable=False, server_default=zero),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("ix_connection_health_samples_connection_at", TABLE, ["connection_id", "checked_at"])


def downgrade() -> None:
    op.drop_index("ix_connection_health_samples_connection_at", table_name=TABLE)
    op.drop_table(TABLE)
