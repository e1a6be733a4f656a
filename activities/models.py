"""Inputs and outputs of the order workflow and its activities: one model per call, no secrets."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.broker_integration import (
    AssetClass,
    BrokerOrder,
    ExecutionReport,
    FeeReport,
    Order,
    OrderAmendment,
    OrderSide,
    OrderSnapshot,
    OrderStatusUpdate,
    OrderType,
    TimeInForce,
    TradeEvent,
)
from domain.broker_integration.base import upper_enum
from domain.broker_integration.route import RouteDecision
from domain.broker_integration.rules.metrics import ExecutionMetrics
from domain.broker_integration.rules.routing import RoutingPolicy

__all__ = [
    "AmendRequest",
    "CancelInput",
    "CancelRequest",
    "ChangeResult",
    "FinishInput",
    "FinishResult",
    "OrderOutcome",
    "OrderRequest",
    "OrderView",
    "OutcomeInput",
    "OutcomeResult",
    "PollInput",
    "PollResult",
    "PreTradeInput",
    "PreTradeResult",
    "PrepareInput",
    "PrepareResult",
    "RecordInput",
    "ReplaceInput",
    "RouteInput",
    "RouteResult",
    "SessionInput",
    "SessionResult",
    "SubmitInput",
    "SubmitResult",
]


class OrderRequest(BaseModel):
    """What a caller sends to start an order (JSON schema in schemas/order_request.schema.json)."""

    model_config = ConfigDict(extra="forbid")

    client_order_id: str | None = Field(default=None, description="Idempotency key; the workflow id is order-<id>")
    symbol: str
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    expire_at: datetime | None = None
    extended_hours: bool = False
    asset_class: AssetClass = AssetClass.EQUITY
    connection_id: str | None = Field(default=None, description="Pin a connection; none or SMART: the router picks one")
    routing: str | None = Field(default=None, description="Routing policy: cheapest (default), spread, prefer:<broker>")
    account_id: str | None = None
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    safety_poll_seconds: float = Field(
        default=21600.0, ge=1, le=86400,
        description="While the connection's trade stream is healthy, poll the broker only this often (safety poll); "
                    "the stream reconciles every open order of the connection each minute meanwhile",
    )
    session_wait_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="How long the order waits for a usable connection before REJECTED"
    )
    ack_timeout_seconds: float = Field(
        default=10.0, gt=0, le=3600, description="Alert UNACKNOWLEDGED when the broker takes longer to acknowledge"
    )
    fill_timeout_seconds: float = Field(
        default=60.0, gt=0, le=86400, description="Alert NOT_FILLING when a marketable order has not filled by then"
    )
    stall_timeout_seconds: float = Field(
        default=300.0, gt=0, le=86400, description="Alert PARTIAL_STALLED when a partial fill has no next fill by then"
    )

    _upper = field_validator("side", "order_type", "time_in_force", "asset_class", "symbol", mode="before")(
        upper_enum
    )

    def to_broker_order(self, connection_id: str | None = None, account_id: str | None = None) -> BrokerOrder:
        """The domain order; raises InvalidOrderError listing every problem."""
        fields: dict[str, Any] = {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": self.quantity,
            "order_type": self.order_type,
            "price": self.limit_price,
            "stop_price": self.stop_price,
            "trail_price": self.trail_price,
            "trail_percent": self.trail_percent,
            "asset_class": self.asset_class,
            "connection_id": connection_id or self.connection_id,
            "account_id": account_id or self.account_id,
            "execution_params": {
                "time_in_force": self.time_in_force,
                "expire_at": self.expire_at,
                "extended_hours": self.extended_hours,
            },
        }
        if self.client_order_id:
            fields["client_order_id"] = self.client_order_id
        if self.routing is not None:
            RoutingPolicy.from_text(self.routing)  # a bad policy is bad input, refused before anything starts
        return BrokerOrder(**fields)


class CancelRequest(BaseModel):
    reason: str | None = None


class AmendRequest(BaseModel):
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None

    def amendment(self) -> OrderAmendment:
        """The domain amendment (validated: positive, finite)."""
        return OrderAmendment(**self.model_dump())


class ChangeResult(BaseModel):
    """The answer to a cancel or amend update."""

    accepted: bool
    status: str
    broker_order_id: str | None = None
    message: str


class OrderView(BaseModel):
    """What the `status` query returns."""

    client_order_id: str
    status: str
    symbol: str
    side: str
    quantity: Decimal
    filled_qty: Decimal
    remaining_qty: Decimal
    avg_fill_price: Decimal | None
    commission: Decimal
    fees: Decimal
    broker_order_id: str | None
    connection_id: str | None
    reason: str | None
    route: RouteDecision | None = None


class OrderOutcome(BaseModel):
    """The workflow's result."""

    view: OrderView
    executions: int
    alerts: list[str] = Field(default_factory=list)
    metrics: ExecutionMetrics | None = None


class OutcomeResult(BaseModel):
    """The finished order's metrics and alerts; metrics None: the rules failed on it (logged, never retried)."""

    metrics: ExecutionMetrics | None
    alerts: list[str] = Field(default_factory=list)


class SessionInput(BaseModel):
    connection_id: str


class SessionResult(BaseModel):
    connection_id: str
    ready: bool
    status: str
    reason: str | None = None
    broker: str | None = None


class RouteInput(BaseModel):
    order: BrokerOrder
    routing: str | None = None  # the policy: cheapest (default), spread, prefer:<broker>
    exclude: dict[str, str] = Field(default_factory=dict)  # connections abandoned by this order, with why


class RouteResult(BaseModel):
    connection_id: str | None
    account_id: str | None = None
    reason: str | None = None
    decision: RouteDecision | None = None  # every candidate's verdict; None when the order pinned a connection


class PreTradeInput(BaseModel):
    order: BrokerOrder


class PreTradeResult(BaseModel):
    ok: bool
    reason: str | None = None
    reference_price: Decimal | None = None
    problems: list[str] = Field(default_factory=list)
    account_id: str | None = None
    estimated_fees: Decimal | None = None


class PrepareInput(BaseModel):
    """An order on its connection (pinned, or routed): the session, then the pre-trade check."""

    order: BrokerOrder


class PrepareResult(BaseModel):
    session: SessionResult
    check: PreTradeResult | None = None  # None when the session is not ready (nothing checked)


class RecordInput(BaseModel):
    """The order's state plus the status changes and executions to store (all idempotent)."""

    order: Order
    updates: list[OrderStatusUpdate] = Field(default_factory=list)
    executions: list[ExecutionReport] = Field(default_factory=list)
    fees: list[FeeReport] = Field(default_factory=list)


class OutcomeInput(BaseModel):
    """A finished order, for metrics and anomaly rules; `record`, when given, is stored first (same activity)."""

    order: Order
    record: RecordInput | None = None


class SubmitInput(BaseModel):
    """The order to send; with `record` (patch `fold-records`) the activity stores it (SUBMITTED) before the
    broker sees the order, and the acknowledged order after, answering a `SubmitResult`."""

    order: BrokerOrder
    record: RecordInput | None = None


class SubmitResult(BaseModel):
    """The broker's acknowledgement, and the order as stored after it (ACCEPTED, or what the answer showed)."""

    snapshot: OrderSnapshot
    order: Order


class PollInput(BaseModel):
    connection_id: str
    client_order_id: str
    broker_order_ids: list[str]
    since: datetime | None = None


class PollResult(BaseModel):
    """The live order (replacements followed), the orders it replaced since the last known id, fills, fees."""

    snapshot: OrderSnapshot | None
    replaced: list[OrderSnapshot] = Field(default_factory=list)
    executions: list[ExecutionReport] = Field(default_factory=list)
    fees: list[FeeReport] = Field(default_factory=list)
    # The connection's trade stream was healthy when polled: the order may poll slowly (absent before: False).
    stream_healthy: bool = False


class FinishInput(BaseModel):
    """A finished order: its last changes to store, then one last look at the broker (None: never submitted)."""

    record: RecordInput
    poll: PollInput | None = None
    settle_seconds: float = Field(default=0.0, ge=0, le=30)  # wait before the last look (a fill racing a cancel)


class FinishResult(BaseModel):
    """What the last look found; `outcome` is None when it found something new (the workflow applies it,
    stores it and asks for the outcome then)."""

    poll: PollResult | None = None
    outcome: OutcomeResult | None = None


class CancelInput(BaseModel):
    connection_id: str
    broker_order_id: str


class ReplaceInput(BaseModel):
    connection_id: str
    broker_order_id: str
    client_order_id: str
    amendment: OrderAmendment
    amended: BrokerOrder | None = None  # the order on its new terms, for the buying-power check


class TradeEventSignal(BaseModel):
    """A broker event forwarded to an order workflow."""

    event: TradeEvent
