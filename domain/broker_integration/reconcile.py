"""Bring an Order in line with the broker's view of it (snapshots and trade events). Pure."""

from __future__ import annotations

from datetime import datetime

from .errors import DuplicateExecutionError
from .order import Order
from .order_state import OrderStatus
from .ports import OrderSnapshot, TradeEvent, TradeEventKind
from .value_objects import ExecutionReport, OrderStatusUpdate

__all__ = ["apply_acknowledgement", "apply_execution_once", "apply_snapshot_status", "apply_trade_event"]

S = OrderStatus


def apply_execution_once(order: Order, report: ExecutionReport) -> tuple[bool, OrderStatusUpdate | None]:
    """Apply a fill unless it was applied before: (applied, status update)."""
    try:
        return True, order.apply_execution(report)
    except DuplicateExecutionError:
        return False, None


def apply_acknowledgement(order: Order, snapshot: OrderSnapshot, at: datetime) -> list[OrderStatusUpdate]:
    """Apply the broker's answer to the submission of a SUBMITTED order: the acknowledgement, then the status
    it shows (a cancel, a rejection) unless it shows fills, which come as executions first."""
    updates: list[OrderStatusUpdate | None] = []
    if order.status is S.SUBMITTED:
        updates.append(order.accept(snapshot.broker_order_id, at, snapshot.submitted_at))
    if snapshot.filled_quantity <= 0:
        updates += apply_snapshot_status(order, snapshot, at)
    return [u for u in updates if u is not None]


def apply_snapshot_status(order: Order, snapshot: OrderSnapshot, at: datetime) -> list[OrderStatusUpdate]:
    """Apply the non-fill part of a snapshot (ack, reject, cancel, expiry, trigger); fills come as executions."""
    updates: list[OrderStatusUpdate | None] = []
    if snapshot.broker_order_id and order.broker_order_id is None and order.status is S.SUBMITTED:
        updates.append(order.accept(snapshot.broker_order_id, at, snapshot.submitted_at))
    target = snapshot.status
    if target is S.REJECTED and order.status in (S.SUBMITTED, S.ACCEPTED, S.PENDING_CANCEL, S.PENDING_UPDATE):
        updates.append(order.reject(snapshot.reason or "rejected by broker", at))
    elif target is S.CANCELED and order.filled_quantity >= snapshot.filled_quantity and not order.is_terminal:
        updates.append(order.cancel(at, snapshot.reason))
    elif target is S.EXPIRED and order.filled_quantity >= snapshot.filled_quantity and not order.is_terminal:
        updates.append(order.expire(at, snapshot.reason))
    elif target is S.TRIGGERED:
        updates.append(order.trigger(at))
    return [u for u in updates if u is not None]


def apply_trade_event(order: Order, event: TradeEvent) -> tuple[list[OrderStatusUpdate], bool]:
    """Apply one stream event: (status updates, whether its execution was new)."""
    at = event.occurred_at
    updates: list[OrderStatusUpdate | None] = []
    applied = False
    kind = event.kind
    if kind in (TradeEventKind.NEW, TradeEventKind.ACCEPTED) and order.status is S.SUBMITTED:
        updates.append(order.accept(event.order.broker_order_id, at))
    elif kind in (TradeEventKind.FILL, TradeEventKind.PARTIAL_FILL) and event.execution is not None:
        if order.status is S.SUBMITTED:
            updates.append(order.accept(event.order.broker_order_id, at))
        applied, update = apply_execution_once(order, event.execution)
        updates.append(update)
    elif (
        kind in (TradeEventKind.CANCEL_REJECTED, TradeEventKind.REPLACE_REJECTED) and order.status.is_pending
    ):
        updates.append(order.refuse_pending(f"broker refused: {kind.lower()}", at))
    elif kind in (
        TradeEventKind.CANCELED,
        TradeEventKind.EXPIRED,
        TradeEventKind.DONE_FOR_DAY,
        TradeEventKind.REJECTED,
        TradeEventKind.TRIGGERED,
    ):
        updates += apply_snapshot_status(order, event.order, at)
    return [u for u in updates if u is not None], applied
