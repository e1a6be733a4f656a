"""Alert lifecycle: who acknowledged an alert and when, and who resolved it; fills by symbol and time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "alerts"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(TABLE, sa.Column("acknowledged_by", sa.Text(), nullable=True))
    op.add_column(TABLE, sa.Column("resolved_by", sa.Text(), nullable=True))
    # The anomaly rules read a symbol's recent fills.
    op.create_index("ix_execution_reports_symbol_executed_at", "execution_reports", ["symbol", "executed_at"])


def downgrade() -> None:
    op.drop_index("ix_execution_reports_symbol_executed_at", table_name="execution_reports")
    op.drop_column(TABLE, "resolved_by")
    op.drop_column(TABLE, "acknowledged_by")
    op.drop_column(TABLE, "acknowledged_at")
