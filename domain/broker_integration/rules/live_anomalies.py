"""Anomaly rules of a running order, checked by its workflow as broker information arrives. Pure.

Time-based rules take `now` (the workflow's clock) and the thresholds of the order's request:
an acknowledgement that comes late, a marketable order that does not fill, a partial fill that stalls.
The others look at what the broker just said: a status that moves backwards, an execution id reused for
a different fill, more executed than ordered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ..enums import OrderType
from ..order import Order
from ..order_state import OrderStatus
from ..value_objects import ExecutionReport
from .anomalies import Alert, Severity

__all__ = [
    "TimingThresholds",
    "conflicting_execution",
    "is_marketable",
    "late_acknowledgement",
    "overdue",
    "refused_report",
    "status_regression",
]

S = OrderStatus
_WORKING = (S.ACCEPTED, S.TRIGGERED)


@dataclass(frozen=True, slots=True)
class TimingThresholds:
    ack_timeout: timedelta = timedelta(seconds=10)
    fill_timeout: timedelta = timedelta(seconds=60)
    stall_timeout: timedelta = timedelta(seconds=300)


def _seconds(delta: timedelta) -> str:
    return f"{delta.total_seconds():g} s"


def is_marketable(order: Order) -> bool:
    """Whether the order should trade at once: a market order, a triggered stop, or a limit at or through
    the reference price (the market when the order was checked)."""
    terms = order.order
    if terms.order_type is OrderType.MARKET:
        return True
    if terms.order_type is OrderType.STOP:
        return order.status is S.TRIGGERED
    if terms.order_type is OrderType.LIMIT and terms.price is not None and order.reference_price:
        buy = terms.side.is_buy
        return terms.price >= order.reference_price if buy else terms.price <= order.reference_price
    return False


def late_acknowledgement(order: Order, timing: TimingThresholds) -> Alert | None:
    """The broker acknowledged the order after `ack_timeout` (workflow clock, submission to answer)."""
    if order.submitted_at is None or order.accepted_at is None:
        return None
    waited = order.accepted_at - order.submitted_at
    if waited <= timing.ack_timeout:
        return None
    return Alert("UNACKNOWLEDGED", Severity.WARNING, order.client_order_id,
                 f"not acknowledged within {_seconds(timing.ack_timeout)} (answered after {_seconds(waited)})")


def _working_since(order: Order) -> datetime | None:
    """Since when the order should have been trading: its acknowledgement, or a stop's trigger."""
    triggered = [u.occurred_at for u in order.history if u.status is S.TRIGGERED]
    if order.status is S.TRIGGERED and triggered:
        return triggered[-1]
    return order.accepted_at or order.submitted_at


def overdue(order: Order, now: datetime, timing: TimingThresholds, last_fill_at: datetime | None) -> list[Alert]:
    """Time-based rules of a working order at `now`."""
    cid, status = order.client_order_id, order.status
    if order.is_terminal:
        return []
    if status is S.SUBMITTED and order.submitted_at and now - order.submitted_at > timing.ack_timeout:
        return [Alert("UNACKNOWLEDGED", Severity.WARNING, cid,
                      f"not acknowledged within {_seconds(timing.ack_timeout)}")]
    started = _working_since(order)
    if status in _WORKING and order.filled_quantity == 0 and is_marketable(order) and started is not None \
            and now - started > timing.fill_timeout:
        return [Alert("NOT_FILLING", Severity.WARNING, cid,
                      f"marketable {order.order.describe()} has not filled within {_seconds(timing.fill_timeout)}")]
    if status is S.PARTIALLY_FILLED and last_fill_at is not None and now - last_fill_at > timing.stall_timeout:
        return [Alert("PARTIAL_STALLED", Severity.WARNING, cid,
                      f"{order.filled_quantity} of {order.order.quantity} filled, no fill for "
                      f"{_seconds(timing.stall_timeout)}")]
    return []


def status_regression(order: Order, reported: OrderStatus, reported_filled: Decimal,
                      recorded_filled: Decimal) -> Alert | None:
    """The broker reports less than it reported before for the same broker order: fewer shares filled than
    were already executed, or a working status for an order it had finished. Compare with what was known
    before the report was asked for (a report is older than fills that arrive with it)."""
    cid = order.client_order_id
    if reported_filled < recorded_filled:
        return Alert("STATUS_REGRESSION", Severity.CRITICAL, cid,
                     f"broker reports {reported_filled} filled after {recorded_filled} had been executed")
    ours = order.status
    if ours in (S.FILLED, S.CANCELED, S.EXPIRED) and not reported.is_terminal and reported is not S.PENDING_CANCEL:
        return Alert("STATUS_REGRESSION", Severity.CRITICAL, cid, f"broker reports {reported} after {ours}")
    return None


def conflicting_execution(known: ExecutionReport, incoming: ExecutionReport) -> Alert | None:
    """The same execution id reported again for a different fill (quantity or price; sources name the side
    of a short sale differently, so the side is not compared)."""
    if known.execution_id != incoming.execution_id:
        return None
    if (known.quantity, known.price) == (incoming.quantity, incoming.price):
        return None  # the same fill from a second source: expected, deduplicated silently
    return Alert("DUPLICATE_EXECUTION", Severity.CRITICAL, incoming.client_order_id,
                 f"execution id {incoming.execution_id} reported as {incoming.quantity} @ {incoming.price} "
                 f"after {known.quantity} @ {known.price}")


def refused_report(order: Order, error_kind: str, detail: str) -> Alert | None:
    """An alert for broker information the Order aggregate refused (by the domain error's class name)."""
    kinds = {"IllegalTransitionError": "STATUS_REGRESSION", "OverfillError": "OVERFILL"}
    kind = kinds.get(error_kind)
    if kind is None:
        return None
    return Alert(kind, Severity.CRITICAL, order.client_order_id, detail)
