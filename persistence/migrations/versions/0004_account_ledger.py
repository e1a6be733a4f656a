"""Account ledger (settlements, day trades, good-faith violations) and buying-power reservations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "account_reservations"


def upgrade() -> None:
    op.add_column("broker_accounts", sa.Column("ledger", JSONB(), nullable=False,
                                               server_default=sa.text("'{}'::jsonb")))
    op.create_table(
        TABLE,
        sa.Column("client_order_id", sa.Text(), primary_key=True),
        sa.Column("account_id", sa.Text(), nullable=False),
        sa.Column("connection_id", sa.Text(), nullable=True),
        sa.Column("symbol", sa.Text(), nullable=False),
        sa.Column("side", sa.Text(), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("filled_quantity", sa.Numeric(), nullable=False, server_default=sa.text("0")),
        sa.Column("estimated_fees", sa.Numeric(), nullable=False, server_default=sa.text("0")),
        sa.Column("reference_price", sa.Numeric(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('HELD', 'RELEASED')", name="ck_account_reservations_status"),
        sa.CheckConstraint("quantity > 0 AND amount >= 0 AND filled_quantity >= 0 AND estimated_fees >= 0",
                           name="ck_account_reservations_amounts"),
    )
    op.create_index("ix_account_reservations_account_id", TABLE, ["account_id"])


def downgrade() -> None:
    op.drop_table(TABLE)
    op.drop_column("broker_accounts", "ledger")
