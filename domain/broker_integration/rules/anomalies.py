"""Anomaly rules on executions: slippage, limit violations, slow acknowledgements, fees, late fills."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..enums import OrderType
from ..order import Order
from ..order_state import OrderStatus
from ..value_objects import ExecutionReport
from .metrics import ExecutionMetrics

__all__ = ["Alert", "AnomalyThresholds", "Severity", "detect_anomalies", "slippage_zscore"]


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something about an execution a human should look at."""

    kind: str
    severity: Severity
    subject: str
    message: str


@dataclass(frozen=True, slots=True)
class AnomalyThresholds:
    slippage_bps: Decimal = Decimal("50")
    ack_latency_ms: Decimal = Decimal("2000")
    fee_rate: Decimal = Decimal("0.01")
    zscore: Decimal = Decimal("3")


def _limit_violations(order: Order, executions: Sequence[ExecutionReport]) -> list[Alert]:
    limit = order.order.price
    if limit is None or order.order.order_type not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return []
    buy = order.order.side.is_buy
    bad = [e for e in executions if (e.price > limit if buy else e.price < limit)]
    return [
        Alert("LIMIT_VIOLATION", Severity.CRITICAL, order.client_order_id,
              f"execution {e.execution_id} at {e.price} is through the limit {limit}")
        for e in bad
    ]


def detect_anomalies(
    order: Order,
    executions: Sequence[ExecutionReport],
    metrics: ExecutionMetrics,
    thresholds: AnomalyThresholds = AnomalyThresholds(),
) -> list[Alert]:
    """Every rule that fires for this order, most severe first."""
    cid = order.client_order_id
    alerts = _limit_violations(order, executions)
    if metrics.slippage_bps is not None and metrics.slippage_bps > thresholds.slippage_bps:
        alerts.append(Alert("SLIPPAGE", Severity.WARNING, cid, f"slippage {metrics.slippage_bps} bps"))
    if metrics.ack_latency_ms is not None and metrics.ack_latency_ms > thresholds.ack_latency_ms:
        alerts.append(Alert("SLOW_ACK", Severity.WARNING, cid, f"acknowledged after {metrics.ack_latency_ms} ms"))
    notional = sum((e.notional for e in executions), Decimal("0"))
    if notional > 0 and metrics.total_cost / notional > thresholds.fee_rate:
        alerts.append(Alert("HIGH_FEES", Severity.WARNING, cid, f"fees {metrics.total_cost} on {notional}"))
    if order.late_fills:
        alerts.append(Alert("LATE_FILL", Severity.WARNING, cid, f"{order.late_fills} fill(s) arrived after the close"))
    if order.status is OrderStatus.REJECTED:
        alerts.append(Alert("REJECTED", Severity.INFO, cid, order.reason or "rejected"))
    order_rank = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(alerts, key=lambda a: order_rank[a.severity])


def slippage_zscore(value: Decimal, history: Sequence[Decimal]) -> Decimal | None:
    """How many standard deviations `value` is from the history's mean (None with under 10 points)."""
    if len(history) < 10:
        return None
    mean = sum(history, Decimal("0")) / len(history)
    variance = sum(((x - mean) ** 2 for x in history), Decimal("0")) / (len(history) - 1)
    if variance == 0:
        return None
    return (value - mean) / variance.sqrt()
