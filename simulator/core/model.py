"""Exchange-level records: orders, requests, executions, trade events, activities and rejections."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "TERMINAL_STATUSES",
    "Activity",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "RejectKind",
    "Rejection",
    "Side",
    "SimOrder",
    "TimeInForce",
    "TradeEvent",
]

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    OPG = "opg"
    CLS = "cls"
    IOC = "ioc"
    FOK = "fok"


class OrderStatus(StrEnum):
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    DONE_FOR_DAY = "done_for_day"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REPLACED = "replaced"
    PENDING_CANCEL = "pending_cancel"
    PENDING_REPLACE = "pending_replace"
    ACCEPTED = "accepted"
    PENDING_NEW = "pending_new"
    REJECTED = "rejected"
    HELD = "held"  # a contingent leg waiting for its entry to fill (bracket, OTO)


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REPLACED, OrderStatus.REJECTED}
)


class RejectKind(StrEnum):
    """Why the exchange refused a request; front ends map these to their own error codes."""

    INVALID = "invalid"
    UNKNOWN_ASSET = "unknown_asset"
    NOT_FOUND = "not_found"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    INSUFFICIENT_BUYING_POWER = "insufficient_buying_power"
    INSUFFICIENT_QTY = "insufficient_qty"
    SHORT_NOT_ALLOWED = "short_not_allowed"
    PATTERN_DAY_TRADING = "pattern_day_trading"
    NOT_CANCELABLE = "not_cancelable"
    NOT_REPLACEABLE = "not_replaceable"
    UNCHANGED = "unchanged"
    PRICE = "price"


class Rejection(Exception):
    """A request the exchange refuses synchronously; nothing changed."""

    def __init__(self, kind: RejectKind, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.extra = extra


@dataclass(frozen=True)
class OrderRequest:
    """A new order as the exchange sees it, already shape-checked by a front end."""

    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None


@dataclass
class SimOrder:
    """An order held by the exchange; snapshots of it travel inside trade events."""

    id: str
    account_id: str
    client_order_id: str
    symbol: str
    asset_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    created_at: datetime
    seq: int
    status: OrderStatus = OrderStatus.ACCEPTED
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    expired_at: datetime | None = None
    canceled_at: datetime | None = None
    failed_at: datetime | None = None
    replaced_at: datetime | None = None
    expires_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    filled_qty: Decimal = ZERO
    filled_value: Decimal = ZERO
    hwm: Decimal | None = None
    triggered: bool = False
    notional_qty: Decimal | None = None
    commission: Decimal = ZERO
    day_routed: date | None = None
    # Advanced order classes: the parent holds its legs' ids, each leg its parent's id.
    order_class: str = ""
    legs: tuple[str, ...] = ()
    parent_id: str | None = None

    @property
    def target_qty(self) -> Decimal:
        """Return the quantity to fill (notional orders fix it when first routed)."""
        if self.qty is not None:
            return self.qty
        return self.notional_qty if self.notional_qty is not None else ZERO

    @property
    def leaves_qty(self) -> Decimal:
        return max(self.target_qty - self.filled_qty, ZERO)

    @property
    def filled_avg_price(self) -> Decimal | None:
        if self.filled_qty == 0:
            return None
        return (self.filled_value / self.filled_qty).quantize(Decimal("0.000001")).normalize()

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL_STATUSES

    def snapshot(self) -> SimOrder:
        """Return a copy frozen at this moment (fields are immutable values)."""
        return copy.copy(self)


@dataclass(frozen=True)
class TradeEvent:
    """One order event, in the order the exchange produced it."""

    seq: int
    event: str
    order: SimOrder
    timestamp: datetime
    execution_id: str | None = None
    price: Decimal | None = None
    qty: Decimal | None = None
    position_qty: Decimal | None = None


@dataclass(frozen=True)
class Activity:
    """An account activity: FILL entries per execution, FEE entries for commissions and regulatory fees."""

    id: str
    activity_type: str
    account_id: str
    transaction_time: datetime
    symbol: str
    data: dict[str, Any] = field(default_factory=dict)
