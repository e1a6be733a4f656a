"""Initial schema: connections, credentials, accounts, orders, status history, executions, alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-20
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "INITIALIZED", "SUBMITTED", "ACCEPTED", "REJECTED", "TRIGGERED", "PENDING_UPDATE",
    "PENDING_CANCEL", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED",
)  # fmt: skip
STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in STATUSES))
APPEND_ONLY_TABLES = ("order_status_history", "execution_reports")

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION brokerflow_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""


def _ts(name: str, nullable: bool = True, now: bool = False) -> sa.Column[Any]:
    default = sa.text("now()") if now else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=default)


def _num(name: str, nullable: bool = False, default: str | None = "0") -> sa.Column[Any]:
    server_default = None if nullable or default is None else sa.text(default)
    return sa.Column(name, sa.Numeric(), nullable=nullable, server_default=server_default)


def _text(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _int(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))


def _jsonb(name: str, default: str) -> sa.Column[Any]:
    return sa.Column(name, postgresql.JSONB(), nullable=False, server_default=sa.text(f"'{default}'::jsonb"))


def _serial() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True)


def _connections() -> None:
    op.create_table(
        "broker_connections",
        sa.Column("connection_id", sa.Text(), primary_key=True),
        _text("broker"), _text("environment"), _text("auth_method"), _text("base_url", True),
        _text("status"), _text("status_reason", True),
        _ts("session_expires_at"), _ts("authenticated_at"), _ts("last_heartbeat_at"),
        _int("consecutive_failures"), _int("total_failures"), _jsonb("history", "[]"),
        _ts("created_at", False, True), _ts("updated_at", False, True),
    )  # fmt: skip
    op.create_index("ix_broker_connections_status", "broker_connections", ["status"])
    op.create_table(
        "broker_credentials",
        sa.Column(
            "connection_id",
            sa.Text(),
            sa.ForeignKey("broker_connections.connection_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        _text("key_id"), _ts("token_expires_at"), _ts("updated_at", False, True),
    )  # fmt: skip


def _accounts() -> None:
    op.create_table(
        "broker_accounts",
        sa.Column("account_id", sa.Text(), primary_key=True),
        _text("connection_id"), _text("account_number"), _text("account_type"), _text("currency"),
        _num("cash"), _num("settled_cash"), _num("equity"), _num("buying_power"),
        _num("initial_margin"), _num("maintenance_margin"),
        sa.Column("pattern_day_trader", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        _int("day_trade_count"),
        sa.Column("shorting_enabled", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        _jsonb("positions", "{}"), _ts("as_of"), _ts("updated_at", False, True),
    )  # fmt: skip
    op.create_index("ix_broker_accounts_connection_id", "broker_accounts", ["connection_id"])


def _orders() -> None:
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.Text(), primary_key=True),
        _text("broker_order_id", True), _text("connection_id", True), _text("account_id", True),
        _text("symbol"), _text("side"), _text("order_type"), _text("status"),
        _num("quantity", default=None), _num("filled_quantity"), _num("avg_fill_price", True),
        _num("commission"), _num("fees"),
        sa.Column("aggregate", postgresql.JSONB(), nullable=False),
        _ts("created_at", False), _ts("updated_at", False),
        sa.CheckConstraint(STATUS_CHECK, name="ck_orders_status"),
        sa.CheckConstraint("quantity > 0", name="ck_orders_quantity_positive"),
        sa.CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="ck_orders_filled_quantity"),
    )  # fmt: skip
    op.create_index(
        "uq_orders_broker_order_id",
        "orders",
        ["broker_order_id"],
        unique=True,
        postgresql_where=sa.text("broker_order_id IS NOT NULL"),
    )
    op.create_index("ix_orders_status_created_at", "orders", ["status", "created_at"])
    op.create_index("ix_orders_connection_id", "orders", ["connection_id"])
    op.create_index("ix_orders_account_id", "orders", ["account_id"])


def _status_history() -> None:
    op.create_table(
        "order_status_history",
        _serial(), _text("client_order_id"), sa.Column("sequence", sa.Integer(), nullable=False),
        _text("previous_status", True), _text("status"), _ts("occurred_at", False),
        _text("reason", True), _text("broker_order_id", True), _ts("recorded_at", False, True),
        sa.UniqueConstraint("client_order_id", "sequence", name="uq_order_status_history_order_sequence"),
        sa.CheckConstraint("sequence >= 0", name="ck_order_status_history_sequence"),
        sa.CheckConstraint(STATUS_CHECK, name="ck_order_status_history_status"),
    )  # fmt: skip


def _executions() -> None:
    op.create_table(
        "execution_reports",
        _serial(), _text("execution_id"), _text("client_order_id"), _text("broker_order_id", True),
        _text("connection_id", True), _text("symbol"), _text("side"),
        _num("quantity", default=None), _num("price", default=None), _num("commission"), _num("fees"),
        _num("cumulative_quantity", True), _text("liquidity", True),
        _ts("executed_at", False), _ts("recorded_at", False, True),
        sa.UniqueConstraint(
            "connection_id", "execution_id",
            name="uq_execution_reports_connection_execution", postgresql_nulls_not_distinct=True,
        ),
        sa.CheckConstraint("quantity > 0 AND price > 0", name="ck_execution_reports_positive"),
        sa.CheckConstraint("commission >= 0 AND fees >= 0", name="ck_execution_reports_costs"),
    )  # fmt: skip
    op.create_index("ix_execution_reports_client_order_id", "execution_reports", ["client_order_id"])


def _alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        _ts("created_at", False, True), _text("severity"), _text("kind"), _text("subject"),
        _text("message"), _jsonb("details", "{}"), _ts("cleared_at"),
    )  # fmt: skip
    op.create_index("ix_alerts_subject", "alerts", ["subject"])
    op.create_index("ix_alerts_open", "alerts", ["created_at"], postgresql_where=sa.text("cleared_at IS NULL"))


def _append_only_triggers() -> None:
    op.execute(APPEND_ONLY_FUNCTION)
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION brokerflow_append_only()"
        )


def upgrade() -> None:
    """Create every table, index, constraint and the append-only triggers."""
    _connections()
    _accounts()
    _orders()
    _status_history()
    _executions()
    _alerts()
    _append_only_triggers()


def downgrade() -> None:
    """Drop everything `upgrade` created."""
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS brokerflow_append_only()")
    for table in ("alerts", "execution_reports", "order_status_history", "orders", "broker_accounts"):
        op.drop_table(table)
    op.drop_table("broker_credentials")
    op.drop_table("broker_connections")
