"""Execution metrics of a finished (or running) order, and their aggregates by broker, account, symbol, day.

Per order: acknowledgement latency, time to first fill, time to complete, fill rate, average price,
slippage against the arrival price in basis points (positive is worse), commission and fees per share.
Aggregates: medians and 95th percentiles of latencies, slippage weighted by filled quantity, costs per share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from ..enums import OrderType
from ..order import Order
from ..value_objects import ExecutionReport

__all__ = [
    "ExecutionMetrics",
    "ExecutionQuality",
    "GroupBy",
    "MetricsAggregate",
    "aggregate_metrics",
    "benchmark_price",
    "execution_metrics",
    "execution_quality",
    "median",
    "percentile",
]

_BPS = Decimal("10000")
ZERO = Decimal("0")
_PER_SHARE = Decimal("0.000001")


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
    commission_per_share: Decimal | None = None
    fees_per_share: Decimal | None = None
    symbol: str | None = None
    side: str | None = None
    connection_id: str | None = None
    account_id: str | None = None
    broker: str | None = None
    submitted_at: datetime | None = None
    trade_date: date | None = None

    def with_charges(self, commission: Decimal, fees: Decimal, broker: str | None = None) -> ExecutionMetrics:
        """The same metrics with commission and fees as charged in total (per share recomputed)."""
        return self.model_copy(update={
            "commission": commission, "fees": fees, "total_cost": commission + fees,
            "commission_per_share": _per_share(commission, self.filled_quantity),
            "fees_per_share": _per_share(fees, self.filled_quantity), "broker": broker or self.broker,
        })


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


def _per_share(amount: Decimal, quantity: Decimal) -> Decimal | None:
    return (amount / quantity).quantize(_PER_SHARE) if quantity > 0 else None


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
        commission_per_share=_per_share(order.commission, order.filled_quantity),
        fees_per_share=_per_share(order.fees, order.filled_quantity),
        symbol=order.order.symbol,
        side=str(order.order.side),
        connection_id=order.order.connection_id,
        account_id=order.order.account_id,
        submitted_at=order.submitted_at or order.created_at,
    )


def median(values: Iterable[Decimal]) -> Decimal | None:
    """The median (mean of the middle two for an even count); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Iterable[Decimal], pct: int) -> Decimal | None:
    """Nearest-rank percentile (`pct` in 1..100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(-(-pct * len(ordered) // 100), 1)
    return ordered[rank - 1]


class ExecutionQuality(BaseModel):
    """Recent execution quality of a connection, as the router weighs it."""

    orders: int = 0
    median_slippage_bps: Decimal | None = None
    median_ack_latency_ms: Decimal | None = None
    rejected: int = 0


def execution_quality(metrics: Iterable[ExecutionMetrics]) -> ExecutionQuality:
    """Median slippage of the filled orders and median acknowledgement latency of the acknowledged ones."""
    rows = list(metrics)
    return ExecutionQuality(
        orders=sum(1 for m in rows if m.slippage_bps is not None),
        median_slippage_bps=median(m.slippage_bps for m in rows if m.slippage_bps is not None),
        median_ack_latency_ms=median(m.ack_latency_ms for m in rows if m.ack_latency_ms is not None),
        rejected=sum(1 for m in rows if m.status == "REJECTED"),
    )


class GroupBy(StrEnum):
    BROKER = "broker"
    ACCOUNT = "account"
    SYMBOL = "symbol"
    DAY = "day"


class MetricsAggregate(BaseModel):
    """The metrics of a group of orders."""

    group_by: GroupBy
    key: str
    orders: int
    filled_orders: int
    rejected_orders: int
    quantity: Decimal
    filled_quantity: Decimal
    fill_rate: Decimal
    notional: Decimal
    avg_fill_price: Decimal | None
    median_ack_latency_ms: Decimal | None
    p95_ack_latency_ms: Decimal | None
    median_time_to_first_fill_ms: Decimal | None
    median_time_to_complete_ms: Decimal | None
    avg_slippage_bps: Decimal | None
    median_slippage_bps: Decimal | None
    p95_slippage_bps: Decimal | None
    commission: Decimal
    fees: Decimal
    commission_per_share: Decimal | None
    fees_per_share: Decimal | None


def _key_of(by: GroupBy) -> Callable[[ExecutionMetrics], str]:
    def key(m: ExecutionMetrics) -> str:
        if by is GroupBy.BROKER:
            return m.broker or "-"
        if by is GroupBy.ACCOUNT:
            return m.account_id or "-"
        if by is GroupBy.SYMBOL:
            return m.symbol or "-"
        day = m.trade_date or (m.submitted_at.date() if m.submitted_at else None)
        return day.isoformat() if day else "-"
    return key


def _aggregate(by: GroupBy, key: str, rows: Sequence[ExecutionMetrics]) -> MetricsAggregate:
    quantity = sum((m.quantity for m in rows), ZERO)
    filled = sum((m.filled_quantity for m in rows), ZERO)
    notional = sum((m.filled_quantity * (m.avg_fill_price or ZERO) for m in rows), ZERO)
    slipped = [m for m in rows if m.slippage_bps is not None and m.filled_quantity > 0]
    slipped_qty = sum((m.filled_quantity for m in slipped), ZERO)
    weighted = sum(((m.slippage_bps or ZERO) * m.filled_quantity for m in slipped), ZERO)
    commission = sum((m.commission for m in rows), ZERO)
    fees = sum((m.fees for m in rows), ZERO)
    acks = [m.ack_latency_ms for m in rows if m.ack_latency_ms is not None]
    slips = [m.slippage_bps for m in slipped if m.slippage_bps is not None]
    return MetricsAggregate(
        group_by=by, key=key, orders=len(rows), filled_orders=sum(1 for m in rows if m.filled_quantity > 0),
        rejected_orders=sum(1 for m in rows if m.status == "REJECTED"), quantity=quantity,
        filled_quantity=filled, fill_rate=(filled / quantity).quantize(Decimal("0.0001")) if quantity else ZERO,
        notional=notional, avg_fill_price=(notional / filled).quantize(_PER_SHARE) if filled else None,
        median_ack_latency_ms=median(acks), p95_ack_latency_ms=percentile(acks, 95),
        median_time_to_first_fill_ms=median(m.time_to_first_fill_ms for m in rows
                                            if m.time_to_first_fill_ms is not None),
        median_time_to_complete_ms=median(m.time_to_complete_ms for m in rows if m.time_to_complete_ms is not None),
        avg_slippage_bps=(weighted / slipped_qty).quantize(Decimal("0.01")) if slipped_qty else None,
        median_slippage_bps=median(slips), p95_slippage_bps=percentile(slips, 95),
        commission=commission, fees=fees, commission_per_share=_per_share(commission, filled),
        fees_per_share=_per_share(fees, filled),
    )


def aggregate_metrics(rows: Iterable[ExecutionMetrics], by: GroupBy | str) -> list[MetricsAggregate]:
    """One aggregate per broker, account, symbol or day (sorted by key); slippage weighted by filled quantity."""
    group_by = GroupBy(str(by).lower())
    key = _key_of(group_by)
    groups: dict[str, list[ExecutionMetrics]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return [_aggregate(group_by, k, groups[k]) for k in sorted(groups)]
