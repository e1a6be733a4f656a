"""SQLModel tables: the PostgreSQL schema of brokerflow (migrations/versions/0001_initial.py creates it).

Money and quantities are NUMERIC (Decimal end to end), times are timestamptz in UTC, enums are text
guarded by CHECK constraints, nested structures are JSONB with decimals kept as strings.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "ORDER_STATUSES",
    "AccountReservationRow",
    "AlertRow",
    "BrokerAccountRow",
    "BrokerConnectionRow",
    "BrokerCredentialsRow",
    "ConnectionHealthSampleRow",
    "ExecutionReportRow",
    "FeeReportRow",
    "OrderRow",
    "OrderStatusHistoryRow",
    "metadata",
]

metadata = SQLModel.metadata

# Kept literal (not imported from the domain) so the schema only changes through a migration.
ORDER_STATUSES = (
    "INITIALIZED", "SUBMITTED", "ACCEPTED", "REJECTED", "TRIGGERED", "PENDING_UPDATE",
    "PENDING_CANCEL", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED",
)  # fmt: skip
_STATUS_LIST = ", ".join(f"'{s}'" for s in ORDER_STATUSES)


def _text(nullable: bool = False, **kw: Any) -> Any:
    return Field(sa_column=Column(Text, nullable=nullable, **kw))


def _num(nullable: bool = False, default: str | None = "0") -> Any:
    server_default = None if nullable or default is None else text(default)
    return Field(sa_column=Column(Numeric, nullable=nullable, server_default=server_default))


def _ts(nullable: bool = True, now: bool = False) -> Any:
    return Field(
        sa_column=Column(DateTime(timezone=True), nullable=nullable, server_default=func.now() if now else None)
    )


def _int(default: str = "0") -> Any:
    return Field(sa_column=Column(Integer, nullable=False, server_default=text(default)))


def _json(default: str) -> Any:
    return Field(sa_column=Column(JSONB, nullable=False, server_default=text(f"'{default}'::jsonb")))


def _serial() -> Any:
    return Field(sa_column=Column(BigInteger, Identity(always=False), primary_key=True))


class BrokerConnectionRow(SQLModel, table=True):
    """A broker connection: session state, health counters and status history."""

    __tablename__ = "broker_connections"

    connection_id: str = Field(sa_column=Column(Text, primary_key=True))
    broker: str = _text()
    environment: str = _text()
    auth_method: str = _text()
    base_url: str | None = _text(nullable=True)
    status: str = _text(index=True)
    status_reason: str | None = _text(nullable=True)
    session_expires_at: datetime | None = _ts()
    authenticated_at: datetime | None = _ts()
    last_heartbeat_at: datetime | None = _ts()
    consecutive_failures: int = _int()
    total_failures: int = _int()
    history: list[dict[str, Any]] = _json("[]")
    created_at: datetime = _ts(nullable=False, now=True)
    updated_at: datetime = _ts(nullable=False, now=True)


class BrokerCredentialsRow(SQLModel, table=True):
    """A connection's secrets, encrypted (AES-GCM, nonce first); never stored in clear."""

    __tablename__ = "broker_credentials"

    connection_id: str = Field(
        sa_column=Column(Text, ForeignKey("broker_connections.connection_id", ondelete="CASCADE"), primary_key=True)
    )
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = _text()
    token_expires_at: datetime | None = _ts()
    updated_at: datetime = _ts(nullable=False, now=True)


class BrokerAccountRow(SQLModel, table=True):
    """The latest snapshot of one trading account."""

    __tablename__ = "broker_accounts"

    account_id: str = Field(sa_column=Column(Text, primary_key=True))
    connection_id: str = _text(index=True)
    account_number: str = _text()
    account_type: str = _text()
    currency: str = _text()
    cash: Decimal = _num()
    settled_cash: Decimal = _num()
    equity: Decimal = _num()
    buying_power: Decimal = _num()
    initial_margin: Decimal = _num()
    maintenance_margin: Decimal = _num()
    pattern_day_trader: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    day_trade_count: int = _int()
    shorting_enabled: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    positions: dict[str, Any] = _json("{}")
    ledger: dict[str, Any] = _json("{}")
    as_of: datetime | None = _ts()
    updated_at: datetime = _ts(nullable=False, now=True)


class OrderRow(SQLModel, table=True):
    """An order's current state: searchable columns plus the whole aggregate as JSON."""

    __tablename__ = "orders"
    __table_args__ = (
        Index(
            "uq_orders_broker_order_id",
            "broker_order_id",
            unique=True,
            postgresql_where=text("broker_order_id IS NOT NULL"),
        ),
        Index("ix_orders_status_created_at", "status", "created_at"),
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="ck_orders_status"),
        CheckConstraint("quantity > 0", name="ck_orders_quantity_positive"),
        CheckConstraint("filled_quantity >= 0 AND filled_quantity <= quantity", name="ck_orders_filled_quantity"),
    )

    client_order_id: str = Field(sa_column=Column(Text, primary_key=True))
    broker_order_id: str | None = _text(nullable=True)
    connection_id: str | None = _text(nullable=True, index=True)
    account_id: str | None = _text(nullable=True, index=True)
    symbol: str = _text()
    side: str = _text()
    order_type: str = _text()
    status: str = _text()
    quantity: Decimal = _num(default=None)
    filled_quantity: Decimal = _num()
    avg_fill_price: Decimal | None = _num(nullable=True)
    commission: Decimal = _num()
    fees: Decimal = _num()
    aggregate: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class OrderStatusHistoryRow(SQLModel, table=True):
    """One status change of an order; append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "order_status_history"
    __table_args__ = (
        UniqueConstraint("client_order_id", "sequence", name="uq_order_status_history_order_sequence"),
        CheckConstraint("sequence >= 0", name="ck_order_status_history_sequence"),
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="ck_order_status_history_status"),
    )

    id: int | None = _serial()
    client_order_id: str = _text()
    sequence: int = Field(sa_column=Column(Integer, nullable=False))
    previous_status: str | None = _text(nullable=True)
    status: str = _text()
    occurred_at: datetime = _ts(nullable=False)
    reason: str | None = _text(nullable=True)
    broker_order_id: str | None = _text(nullable=True)
    recorded_at: datetime = _ts(nullable=False, now=True)


class ExecutionReportRow(SQLModel, table=True):
    """One execution (fill); unique by (connection, execution id), a NULL connection included."""

    __tablename__ = "execution_reports"
    __table_args__ = (
        UniqueConstraint(
            "connection_id",
            "execution_id",
            name="uq_execution_reports_connection_execution",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("quantity > 0 AND price > 0", name="ck_execution_reports_positive"),
        CheckConstraint("commission >= 0 AND fees >= 0", name="ck_execution_reports_costs"),
        # The anomaly rules compare a fill with the symbol's recent fills.
        Index("ix_execution_reports_symbol_executed_at", "symbol", "executed_at"),
    )

    id: int | None = _serial()
    execution_id: str = _text()
    client_order_id: str = _text(index=True)
    broker_order_id: str | None = _text(nullable=True)
    connection_id: str | None = _text(nullable=True)
    symbol: str = _text()
    side: str = _text()
    quantity: Decimal = _num(default=None)
    price: Decimal = _num(default=None)
    commission: Decimal = _num()
    fees: Decimal = _num()
    cumulative_quantity: Decimal | None = _num(nullable=True)
    liquidity: str | None = _text(nullable=True)
    executed_at: datetime = _ts(nullable=False)
    recorded_at: datetime = _ts(nullable=False, now=True)


class AlertRow(SQLModel, table=True):
    """An alert raised by the anomaly rules or the connection supervisor."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_open", "created_at", postgresql_where=text("cleared_at IS NULL")),)

    id: uuid.UUID = Field(sa_column=Column(Uuid, primary_key=True, server_default=text("gen_random_uuid()")))
    created_at: datetime = _ts(nullable=False, now=True)
    severity: str = _text()
    kind: str = _text()
    subject: str = _text(index=True)
    message: str = _text()
    details: dict[str, Any] = _json("{}")
    # Open until resolved (`cleared_at`, by a person or by the condition going away); acknowledged meanwhile.
    cleared_at: datetime | None = _ts()
    acknowledged_at: datetime | None = _ts()
    acknowledged_by: str | None = _text(nullable=True)
    resolved_by: str | None = _text(nullable=True)


class ConnectionHealthSampleRow(SQLModel, table=True):
    """One health check of a connection, with the supervisor's running totals (for reporting)."""

    __tablename__ = "connection_health_samples"
    __table_args__ = (Index("ix_connection_health_samples_connection_at", "connection_id", "checked_at"),)

    id: int | None = _serial()
    connection_id: str = _text()
    checked_at: datetime = _ts(nullable=False)
    status: str = _text()
    ok: bool = Field(sa_column=Column(Boolean, nullable=False))
    latency_ms: float | None = Field(sa_column=Column(Float, nullable=True))
    error: str | None = _text(nullable=True)
    checks: int = _int()
    failures: int = _int()
    reconnects: int = _int()
    degraded_seconds: float = Field(sa_column=Column(Float, nullable=False, server_default=text("0")))
    failed_seconds: float = Field(sa_column=Column(Float, nullable=False, server_default=text("0")))
    recorded_at: datetime = _ts(nullable=False, now=True)


class FeeReportRow(SQLModel, table=True):
    """A commission or regulatory fee charged for an order; unique by (connection, fee id)."""

    __tablename__ = "order_fees"
    __table_args__ = (
        UniqueConstraint("connection_id", "fee_id", name="uq_order_fees_connection_fee",
                         postgresql_nulls_not_distinct=True),
        CheckConstraint("amount >= 0", name="ck_order_fees_amount"),
    )

    id: int | None = _serial()
    fee_id: str = _text()
    client_order_id: str = _text(index=True)
    broker_order_id: str | None = _text(nullable=True)
    connection_id: str | None = _text(nullable=True)
    kind: str = _text()
    amount: Decimal = _num(default=None)
    charged_at: datetime = _ts(nullable=False)
    description: str | None = _text(nullable=True)
    recorded_at: datetime = _ts(nullable=False, now=True)


class AccountReservationRow(SQLModel, table=True):
    """Buying power and shares an order holds from its pre-trade check until it is done."""

    __tablename__ = "account_reservations"
    __table_args__ = (
        CheckConstraint("status IN ('HELD', 'RELEASED')", name="ck_account_reservations_status"),
        CheckConstraint("quantity > 0 AND amount >= 0 AND filled_quantity >= 0 AND estimated_fees >= 0",
                        name="ck_account_reservations_amounts"),
    )

    client_order_id: str = Field(sa_column=Column(Text, primary_key=True))
    account_id: str = _text(index=True)
    connection_id: str | None = _text(nullable=True)
    symbol: str = _text()
    side: str = _text()
    quantity: Decimal = _num(default=None)
    amount: Decimal = _num(default=None)
    filled_quantity: Decimal = _num()
    estimated_fees: Decimal = _num()
    reference_price: Decimal | None = _num(nullable=True)
    status: str = _text()
    reason: str | None = _text(nullable=True)
    created_at: datetime = _ts(nullable=False, now=True)
    released_at: datetime | None = _ts()
