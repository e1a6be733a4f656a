"""brokerflow's own metrics, recorded through Temporal's metric meter.

Inside an activity the meter is `activity.metric_meter()`: the worker's runtime exports it on the same
Prometheus endpoint as the SDK's metrics (see `observability.runtime`), labelled with the namespace,
task queue and activity type; outside an activity (and without a metrics runtime) nothing is recorded.

Counters count what the database stored for the first time (fills, fees, status changes), so a retried
activity does not count twice; finished orders and latencies are recorded by `record_outcome`, once per
order in practice (a retry of that activity after it recorded would count again).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.common import MetricMeter

if TYPE_CHECKING:
    from domain.broker_integration import ExecutionReport, FeeReport, Order, OrderStatusUpdate
    from domain.broker_integration.rules.metrics import ExecutionMetrics

__all__ = [
    "ACK_LATENCY",
    "ALERTS_CLEARED",
    "ALERTS_RAISED",
    "CONNECTION_CHECK_LATENCY",
    "CONNECTION_STATUS",
    "CONNECTION_STATUSES",
    "FEES",
    "FILLS",
    "FILL_LATENCY",
    "HISTOGRAM_BUCKETS",
    "ORDERS",
    "REJECTIONS",
    "STATUS_CHANGES",
    "alert_cleared",
    "alert_raised",
    "broker_of",
    "connection_checked",
    "connection_status",
    "fee_recorded",
    "fill_recorded",
    "meter",
    "order_finished",
    "order_outcome",
    "order_recorded",
    "status_changed",
]

ORDERS = "brokerflow_orders_total"
STATUS_CHANGES = "brokerflow_order_status_changes_total"
REJECTIONS = "brokerflow_order_rejections_total"
FILLS = "brokerflow_fills_total"
FEES = "brokerflow_fees"
ACK_LATENCY = "brokerflow_order_ack_latency_seconds"
FILL_LATENCY = "brokerflow_order_fill_latency_seconds"
CONNECTION_STATUS = "brokerflow_connection_status"
CONNECTION_CHECK_LATENCY = "brokerflow_connection_check_latency_seconds"
ALERTS_RAISED = "brokerflow_alerts_raised_total"
ALERTS_CLEARED = "brokerflow_alerts_cleared_total"

CONNECTION_STATUSES = ("DISCONNECTED", "CONNECTING", "CONNECTED", "DEGRADED", "RECONNECTING", "FAILED")

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_FEE_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0)
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    ACK_LATENCY: list(_LATENCY_BUCKETS),
    FILL_LATENCY: list(_LATENCY_BUCKETS),
    CONNECTION_CHECK_LATENCY: list(_LATENCY_BUCKETS),
    FEES: list(_FEE_BUCKETS),
}

log = logging.getLogger("brokerflow.metrics")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _never_fails(fn: Callable[_P, None]) -> Callable[_P, None]:
    """Metrics must never fail the activity that records them: a problem is logged and dropped."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:  # a metric is never worth a failed activity
            log.warning("metric %s not recorded: %s", fn.__name__, exc)

    return wrapper


def _never_fails_async(fn: Callable[_P, Awaitable[None]]) -> Callable[_P, Awaitable[None]]:
    @functools.wraps(fn)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            await fn(*args, **kwargs)
        except Exception as exc:  # a metric is never worth a failed activity
            log.warning("metrics %s not recorded: %s", fn.__name__, exc)

    return wrapper


def _seconds(ms: Decimal | float | None) -> float | None:
    # Times from two clocks (ours, the broker's) can be a little out of order: never a negative latency.
    return None if ms is None else max(float(ms), 0.0) / 1000


# Alert kinds may carry an id (`order_late_fill_<execution id>`): the label keeps the kind only.
_KIND_ID = re.compile(r"_(?=[^_]*\d)[A-Za-z0-9-]{8,}$")


def meter() -> MetricMeter:
    """The current activity's meter, else a meter that records nothing."""
    return activity.metric_meter() if activity.in_activity() else MetricMeter.noop


def _label(value: object | None) -> str:
    return str(value) if value not in (None, "") else "unknown"


@_never_fails
def status_changed(statuses: Iterable[str], broker: str | None) -> None:
    """Count status changes newly stored for an order."""
    counter = meter().create_counter(STATUS_CHANGES, "Order status changes stored, by new status")
    for status in statuses:
        counter.add(1, {"status": _label(status), "broker": _label(broker)})


@_never_fails
def fill_recorded(broker: str | None, side: str) -> None:
    """Count one execution newly stored."""
    meter().create_counter(FILLS, "Executions (fills) stored").add(1, {"broker": _label(broker), "side": side})


@_never_fails
def fee_recorded(broker: str | None, kind: str, amount: Decimal) -> None:
    """Record one fee or commission newly stored (the histogram's sum is the total charged)."""
    meter().create_histogram_float(FEES, "Fees and commissions charged, per charge", "USD").record(
        max(float(amount), 0.0), {"broker": _label(broker), "kind": _label(kind)})


@_never_fails
def order_finished(status: str, broker: str | None, reason: str | None, ack_latency_ms: Decimal | None,
                   fill_latency_ms: Decimal | None) -> None:
    """Count a finished order by final status; its rejection, acknowledgement and fill latency."""
    m = meter()
    labels = {"status": _label(status), "broker": _label(broker)}
    m.create_counter(ORDERS, "Orders that reached a final status").add(1, labels)
    if status == "REJECTED":
        m.create_counter(REJECTIONS, "Orders rejected, by stage").add(
            1, {"broker": _label(broker), "stage": rejection_stage(reason)})
    ack, fill = _seconds(ack_latency_ms), _seconds(fill_latency_ms)
    if ack is not None:
        m.create_histogram_float(ACK_LATENCY, "Submission to broker acknowledgement", "s").record(
            ack, {"broker": _label(broker)})
    if fill is not None:
        m.create_histogram_float(FILL_LATENCY, "Broker acknowledgement to first fill (broker clock)", "s").record(
            fill, {"broker": _label(broker)})


def rejection_stage(reason: str | None) -> str:
    """Where an order was refused: before the broker (pre_trade, connection) or by the broker."""
    text = (reason or "").lower()
    if text.startswith("pre-trade"):
        return "pre_trade"
    if text.startswith(("not submitted", "no connection", "connection")):
        return "connection"
    return "broker"


@_never_fails
def connection_status(connection_id: str, broker: str | None, status: str) -> None:
    """Set the connection's status gauge: 1 for the current status, 0 for the others."""
    gauge = meter().create_gauge(CONNECTION_STATUS, "1 for the connection's current status")
    for candidate in CONNECTION_STATUSES:
        gauge.set(1 if candidate == status else 0,
                  {"connection_id": connection_id, "broker": _label(broker), "status": candidate})


@_never_fails
def connection_checked(connection_id: str, ok: bool, latency_ms: float | None) -> None:
    """Record one health check's latency."""
    if latency_ms is None:
        return
    meter().create_histogram_float(CONNECTION_CHECK_LATENCY, "Broker health check latency", "s").record(
        _seconds(latency_ms) or 0.0, {"connection_id": connection_id, "ok": str(ok).lower()})


def alert_kind(kind: str) -> str:
    """The alert's kind without an id suffix."""
    return _KIND_ID.sub("", kind)


@_never_fails
def alert_raised(kind: str, severity: str) -> None:
    """Count one alert newly raised."""
    meter().create_counter(ALERTS_RAISED, "Alerts raised").add(
        1, {"kind": alert_kind(kind), "severity": _label(severity)})


@_never_fails
def alert_cleared(kind: str, count: int = 1) -> None:
    """Count alerts cleared."""
    if count > 0:
        meter().create_counter(ALERTS_CLEARED, "Alerts cleared").add(count, {"kind": alert_kind(kind)})


# ---- what the activities call ---------------------------------------------------------------------------

_BROKERS: dict[str, str] = {}


async def broker_of(connections: Any, connection_id: str | None) -> str | None:
    """The broker of a connection (cached: a connection never changes broker); None when unknown."""
    if not connection_id or meter() is MetricMeter.noop:
        return None
    if connection_id not in _BROKERS:
        found = await connections.get(connection_id)
        if found is None:
            return None
        _BROKERS[connection_id] = str(found.broker)
    return _BROKERS[connection_id]


@_never_fails_async
async def order_recorded(connections: Any, order: Order, executions: Iterable[ExecutionReport],
                         fees: Iterable[FeeReport], updates: Iterable[OrderStatusUpdate]) -> None:
    """Count what `record_order` stored for the first time: status changes, fills, fees, commissions."""
    broker = await broker_of(connections, order.order.connection_id)
    status_changed([str(u.status) for u in updates], broker)
    for report in executions:
        fill_recorded(broker, str(order.order.side))
        if report.commission:
            fee_recorded(broker, "COMMISSION", report.commission)
        if report.fees:
            fee_recorded(broker, "EXECUTION_FEE", report.fees)
    for fee in fees:
        fee_recorded(broker, str(fee.kind), fee.amount)


@_never_fails_async
async def order_outcome(connections: Any, order: Order, metrics: ExecutionMetrics, new_alerts: Iterable[Any]
                        ) -> None:
    """Record a finished order: final status, rejection, latencies, and the alerts it raised."""
    broker = await broker_of(connections, order.order.connection_id)
    order_finished(str(order.status), broker, order.reason, metrics.ack_latency_ms, metrics.time_to_first_fill_ms)
    for alert in new_alerts:
        alert_raised(f"order_{str(alert.kind).lower()}", str(alert.severity))
