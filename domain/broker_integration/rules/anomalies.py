"""Anomaly rules on executions: slippage, limit/stop violations, outlying fill prices, overfills, slow
acknowledgements against the connection's baseline, rejection bursts, fees, late fills.

History a rule needs (the symbol's recent fill prices, the connection's recent acknowledgement latencies
and rejections) is passed in as `OrderHistory`; the rules never fetch it. Rules of a running order (time
outs, stalls, regressions, duplicates) are in `live_anomalies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from ..enums import OrderType
from ..order import Order
from ..order_state import OrderStatus
from ..value_objects import ExecutionReport
from .anomaly_stats import ewma_baseline, modified_zscore
from .metrics import ExecutionMetrics, benchmark_price

__all__ = [
    "Alert",
    "AnomalyThresholds",
    "OrderHistory",
    "Severity",
    "detect_anomalies",
    "fill_constraint_violations",
    "latency_spike",
    "overfill",
    "price_outliers",
    "rejection_burst",
    "slippage_zscore",
]

_BPS = Decimal("10000")


class Severity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something about an execution a human should look at; `scope` says what `subject` names."""

    kind: str
    severity: Severity
    subject: str
    message: str
    scope: str = "order"  # "order": subject is a client order id; "connection": a connection id


@dataclass(frozen=True, slots=True)
class AnomalyThresholds:
    slippage_bps: Decimal = Decimal("50")
    ack_latency_ms: Decimal = Decimal("2000")
    fee_rate: Decimal = Decimal("0.01")
    zscore: Decimal = Decimal("3")
    # A fill is an outlier when it is this far from the reference AND (with enough history) this many robust
    # standard deviations from the symbol's recent fills.
    price_deviation_bps: Decimal = Decimal("100")
    robust_zscore: Decimal = Decimal("3.5")
    min_price_history: int = 8
    # Latency beyond the connection's EWMA baseline: above mean + k * deviation, `ratio` times the mean,
    # and `min_excess_ms` above it (scheduling jitter of a few ms is not an anomaly).
    latency_k: Decimal = Decimal("4")
    latency_ratio: Decimal = Decimal("3")
    latency_min_excess_ms: Decimal = Decimal("500")
    latency_min_samples: int = 5
    latency_alpha: Decimal = Decimal("0.2")
    rejection_burst: int = 5
    rejection_window: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class OrderHistory:
    """What the rules compare an order with. None for a field means "not known": its rule does not run."""

    recent_fill_prices: Sequence[Decimal] | None = None  # the symbol's, oldest first, this order's excluded
    ack_latencies_ms: Sequence[Decimal] | None = None  # the connection's, oldest first, this order's excluded
    recent_rejections: Sequence[datetime] = field(default_factory=tuple)  # the connection's, this one included
    now: datetime | None = None


def overfill(order: Order, executions: Sequence[ExecutionReport]) -> list[Alert]:
    """More was executed than the order's quantity."""
    total = sum((e.quantity for e in executions), Decimal(0))
    if total <= order.order.quantity:
        return []
    return [Alert("OVERFILL", Severity.CRITICAL, order.client_order_id,
                  f"executed {total} of an order for {order.order.quantity}")]


def _through(price: Decimal, bound: Decimal, buy: bool) -> bool:
    return price > bound if buy else price < bound


def fill_constraint_violations(order: Order, executions: Sequence[ExecutionReport]) -> list[Alert]:
    """Fills through the limit (limit, stop-limit) or before the stop was reached (stop, stop-limit)."""
    terms, buy, cid = order.order, order.order.side.is_buy, order.client_order_id
    alerts = []
    if terms.price is not None and terms.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        alerts += [Alert("LIMIT_VIOLATION", Severity.CRITICAL, cid,
                         f"execution {e.execution_id} at {e.price} is through the limit {terms.price}")
                   for e in executions if _through(e.price, terms.price, buy)]
    if terms.stop_price is not None and terms.order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
        # A buy stop trades only once the market reached the stop: a fill below it came before the trigger.
        alerts += [Alert("STOP_VIOLATION", Severity.CRITICAL, cid,
                         f"execution {e.execution_id} at {e.price} is on the wrong side of the stop {terms.stop_price}")
                   for e in executions if _through(e.price, terms.stop_price, not buy)]
    return alerts


def price_outliers(order: Order, executions: Sequence[ExecutionReport], recent_prices: Sequence[Decimal],
                   thresholds: AnomalyThresholds = AnomalyThresholds()) -> list[Alert]:
    """Fills far from the reference price: beyond `price_deviation_bps`, and, once the symbol has enough
    recent fills, beyond `robust_zscore` on their median/MAD modified z-score (one alert per order)."""
    reference = benchmark_price(order)
    if not reference:
        return []
    for report in executions:
        bps = abs(report.price - reference) / reference * _BPS
        if bps <= thresholds.price_deviation_bps:
            continue
        z = modified_zscore(report.price, recent_prices, thresholds.min_price_history)
        if z is not None and abs(z) <= thresholds.robust_zscore:
            continue  # the symbol has been trading there: the reference is stale, not the fill
        robust = f", robust z {z:.1f} over {len(recent_prices)} recent fills" if z is not None else ""
        return [Alert("PRICE_OUTLIER", Severity.CRITICAL, order.client_order_id,
                      f"execution {report.execution_id} at {report.price} is {bps:.0f} bps from the reference "
                      f"{reference}{robust}")]
    return []


def latency_spike(connection_id: str, latency_ms: Decimal, history: Sequence[Decimal],
                  thresholds: AnomalyThresholds = AnomalyThresholds()) -> Alert | None:
    """An acknowledgement far slower than the connection's EWMA baseline of earlier ones."""
    if len(history) < thresholds.latency_min_samples:
        return None
    baseline = ewma_baseline(history, thresholds.latency_alpha)
    assert baseline is not None
    bound = max(baseline.upper_bound(thresholds.latency_k), baseline.mean * thresholds.latency_ratio,
                baseline.mean + thresholds.latency_min_excess_ms)
    if latency_ms <= bound:
        return None
    return Alert("LATENCY_SPIKE", Severity.WARNING, connection_id,
                 f"acknowledged after {latency_ms:.0f} ms; baseline {baseline.mean:.0f} ms "
                 f"(deviation {baseline.deviation:.0f} ms, {baseline.samples} orders), bound {bound:.0f} ms",
                 scope="connection")


def rejection_burst(connection_id: str, rejected_at: Sequence[datetime], now: datetime,
                    thresholds: AnomalyThresholds = AnomalyThresholds()) -> Alert | None:
    """At least `rejection_burst` rejections on the connection within `rejection_window` before `now`."""
    since = now - thresholds.rejection_window
    recent = [at for at in rejected_at if since <= at <= now]
    if len(recent) < thresholds.rejection_burst:
        return None
    minutes = thresholds.rejection_window.total_seconds() / 60
    return Alert("REJECTION_BURST", Severity.CRITICAL, connection_id,
                 f"{len(recent)} orders rejected in the last {minutes:g} min", scope="connection")


def _history_alerts(order: Order, metrics: ExecutionMetrics, history: OrderHistory,
                    thresholds: AnomalyThresholds) -> list[Alert]:
    connection = order.order.connection_id
    alerts: list[Alert] = []
    if connection and history.ack_latencies_ms is not None and metrics.ack_latency_ms is not None:
        spike = latency_spike(connection, metrics.ack_latency_ms, history.ack_latencies_ms, thresholds)
        alerts += [spike] if spike else []
    if connection and order.status is OrderStatus.REJECTED and history.now is not None:
        burst = rejection_burst(connection, history.recent_rejections, history.now, thresholds)
        alerts += [burst] if burst else []
    return alerts


def detect_anomalies(
    order: Order,
    executions: Sequence[ExecutionReport],
    metrics: ExecutionMetrics,
    thresholds: AnomalyThresholds = AnomalyThresholds(),
    history: OrderHistory | None = None,
) -> list[Alert]:
    """Every rule that fires for this order, most severe first.

    One finding is reported once: an outlying fill price (PRICE_OUTLIER) is not also reported as SLIPPAGE,
    and with a latency baseline for the connection the fixed SLOW_ACK limit gives way to LATENCY_SPIKE.
    """
    cid = order.client_order_id
    history = history or OrderHistory()
    alerts = overfill(order, executions) + fill_constraint_violations(order, executions)
    if history.recent_fill_prices is not None:
        alerts += price_outliers(order, executions, history.recent_fill_prices, thresholds)
    outlier = any(a.kind == "PRICE_OUTLIER" for a in alerts)
    if not outlier and metrics.slippage_bps is not None and metrics.slippage_bps > thresholds.slippage_bps:
        alerts.append(Alert("SLIPPAGE", Severity.WARNING, cid, f"slippage {metrics.slippage_bps} bps"))
    baseline_known = len(history.ack_latencies_ms or ()) >= thresholds.latency_min_samples
    slow = metrics.ack_latency_ms is not None and metrics.ack_latency_ms > thresholds.ack_latency_ms
    if slow and not baseline_known:
        alerts.append(Alert("SLOW_ACK", Severity.WARNING, cid, f"acknowledged after {metrics.ack_latency_ms} ms"))
    notional = sum((e.notional for e in executions), Decimal("0"))
    if notional > 0 and metrics.total_cost / notional > thresholds.fee_rate:
        alerts.append(Alert("HIGH_FEES", Severity.WARNING, cid, f"fees {metrics.total_cost} on {notional}"))
    if order.late_fills:
        alerts.append(Alert("LATE_FILL", Severity.WARNING, cid, f"{order.late_fills} fill(s) arrived after the close"))
    if order.status is OrderStatus.REJECTED:
        alerts.append(Alert("REJECTED", Severity.INFO, cid, order.reason or "rejected"))
    alerts += _history_alerts(order, metrics, history, thresholds)
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
