"""The order workflow's state, carried across continue-as-new, and its pure helpers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from activities.models import ChangeResult, OrderRequest, OrderView
from domain.broker_integration import BrokerOrder, ExecutionReport, FeeReport, Order, OrderStatusUpdate

__all__ = ["OrderWorkflowInput", "OrderWorkflowState", "view_of"]


class OrderWorkflowState(BaseModel):
    """Everything the workflow knows; small enough to carry into a new run."""

    order: Order | None = None
    connection_id: str | None = None
    broker: str | None = None
    broker_order_ids: list[str] = Field(default_factory=list)
    filled_by_broker_order: dict[str, Decimal] = Field(default_factory=dict)
    submitted: bool = False
    poll_since: datetime | None = None
    handled_updates: dict[str, ChangeResult] = Field(default_factory=dict)
    executions: list[ExecutionReport] = Field(default_factory=list)
    execution_count: int = 0
    unrecorded_updates: list[OrderStatusUpdate] = Field(default_factory=list)
    unrecorded_executions: list[ExecutionReport] = Field(default_factory=list)
    unrecorded_fees: list[FeeReport] = Field(default_factory=list)
    rejection: str | None = None
    cancel_requested: str | None = None
    # The terms of an amend whose outcome at the broker is not known yet (resolved by the next poll).
    pending_amend: BrokerOrder | None = None
    alerts: list[str] = Field(default_factory=list)
    runs: int = 1
    # Anomaly alerts this order raised while running (each kind once), and when its last fill arrived.
    raised_alerts: list[str] = Field(default_factory=list)
    last_fill_at: datetime | None = None
    # What the latest poll said of the connection's trade stream: while healthy the order polls slowly.
    stream_healthy: bool = False


def view_of(state: OrderWorkflowState, client_order_id: str, symbol: str, side: str,
            quantity: Decimal) -> OrderView:
    """What the `status` query answers, before and after the order exists."""
    order = state.order
    if order is None:
        return OrderView(
            client_order_id=client_order_id, status="REJECTED" if state.rejection else "PENDING_NEW",
            symbol=symbol, side=side, quantity=quantity, filled_qty=Decimal("0"), remaining_qty=quantity,
            avg_fill_price=None, commission=Decimal("0"), fees=Decimal("0"), broker_order_id=None,
            connection_id=state.connection_id, reason=state.rejection,
        )
    return OrderView(
        client_order_id=order.client_order_id, status=str(order.status), symbol=order.order.symbol,
        side=str(order.order.side), quantity=order.order.quantity, filled_qty=order.filled_quantity,
        remaining_qty=order.remaining_quantity, avg_fill_price=order.avg_fill_price,
        commission=order.commission, fees=order.fees, broker_order_id=order.broker_order_id,
        connection_id=state.connection_id, reason=order.reason or state.rejection, route=order.route,
    )


class OrderWorkflowInput(OrderRequest):
    """The workflow's one argument: the caller's OrderRequest, plus the state carried into a new run."""

    carried: OrderWorkflowState | None = None
    continue_as_new_after: int | None = Field(default=None, ge=1, description="Polls per run (tests); else server")
