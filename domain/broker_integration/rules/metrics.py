"""Execution metrics of a finished (or running) order: latency, slippage, fill rate, fees."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel

from ..enums import OrderType
from ..order import Order
from ..value_objects import ExecutionReport

__all__ = ["ExecutionMetrics", "benchmark_price", "execution_metrics"]

_BPS = Decimal("10000")


class ExecutionMetrics(BaseModel):
    """How well an order executed."""

    client_order_id: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    fill_rate: Decimal
    avg_fill_price: Decimal | None
    reference_price: Decimal | None
    slippage_bps: Decimal | None
    commission: Decimal
    fees: Decimal
    total_cost: Decimal
    execution_count: int
    ack_latency_ms: Decimal | None
    time_to_first_fill_ms: Decimal | None
    time_to_complete_ms: Decimal | None


def _ms(seconds: float) -> Decimal:
    return Decimal(str(round(seconds * 1000, 3)))


def benchmark_price(order: Order) -> Decimal | None:
    """What fills are measured against: the stop for stop orders (they trade once it is reached), the
    arrival price otherwise; a trailing stop has no fixed benchmark."""
    kind = order.order.order_type
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        return order.order.stop_price
    if kind is OrderType.TRAILING_STOP:
        return None
    return order.reference_price


def execution_metrics(order: Order, executions: Sequence[ExecutionReport]) -> ExecutionMetrics:
    """Compute the metrics; slippage is positive when the fill was worse than the reference price."""
    quantity = order.order.quantity
    slippage: Decimal | None = None
    benchmark = benchmark_price(order)
    if order.avg_fill_price is not None and benchmark:
        sign = Decimal(1) if order.order.side.is_buy else Decimal(-1)
        slippage = sign * (order.avg_fill_price - benchmark) / benchmark * _BPS
        slippage = slippage.quantize(Decimal("0.01"))
    first_fill = min((e.executed_at for e in executions), default=None)
    start = order.submitted_at
    # Fill times are the broker's clock: measure them from the broker's own acknowledgement time.
    fill_start = order.broker_submitted_at or start
    return ExecutionMetrics(
        client_order_id=order.client_order_id,
        status=str(order.status),
        quantity=quantity,
        filled_quantity=order.filled_quantity,
        fill_rate=(order.filled_quantity / quantity).quantize(Decimal("0.0001")),
        avg_fill_price=order.avg_fill_price,
        reference_price=order.reference_price,
        slippage_bps=slippage,
        commission=order.commission,
        fees=order.fees,
        total_cost=order.commission + order.fees,
        execution_count=len(executions),
        ack_latency_ms=_ms((order.accepted_at - start).total_seconds())
        if start and order.accepted_at
        else None,
        time_to_first_fill_ms=(
            _ms((first_fill - fill_start).total_seconds()) if fill_start and first_fill else None
        ),
        time_to_complete_ms=(
            _ms((order.completed_at - start).total_seconds()) if start and order.completed_at else None
        ),
    )
