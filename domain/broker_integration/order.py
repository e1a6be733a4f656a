"""The Order aggregate: an order's life from creation to a final state, through the transition table."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .enums import FeeKind
from .errors import DuplicateExecutionError, ForeignReportError, IllegalTransitionError, OverfillError
from .order_state import OrderStatus, check_transition
from .route import RouteDecision
from .value_objects import BrokerOrder, ExecutionReport, FeeReport, OrderStatusUpdate, utc

__all__ = ["Order"]


def _fill_key(report: ExecutionReport) -> str | None:
    """(broker order, cumulative quantity after the fill): one fill, whichever id a source gives it."""
    if report.broker_order_id is None or report.cumulative_quantity is None:
        return None
    return f"{report.broker_order_id}@{report.cumulative_quantity.normalize()}"

S = OrderStatus
_FILLABLE = (S.SUBMITTED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED)
_LATE_FILL = (S.CANCELED, S.EXPIRED)


class Order(BaseModel):
    """An order and everything that happened to it; changes only through its methods."""

    model_config = ConfigDict(validate_assignment=False)

    order: BrokerOrder
    status: OrderStatus = S.INITIALIZED
    broker_order_id: str | None = None
    created_at: datetime
    updated_at: datetime
    filled_quantity: Decimal = Decimal("0")
    avg_fill_price: Decimal | None = None
    commission: Decimal = Decimal("0")
    fees: Decimal = Decimal("0")
    execution_ids: list[str] = Field(default_factory=list)
    history: list[OrderStatusUpdate] = Field(default_factory=list)
    status_before_pending: OrderStatus | None = None
    reason: str | None = None
    submitted_at: datetime | None = None
    accepted_at: datetime | None = None
    completed_at: datetime | None = None
    reference_price: Decimal | None = None
    late_fills: int = 0
    broker_submitted_at: datetime | None = None
    fee_ids: list[str] = Field(default_factory=list)
    fill_keys: list[str] = Field(default_factory=list)
    # How the router chose the connection (None when the request pinned one): every candidate's verdict.
    route: RouteDecision | None = None

    @classmethod
    def create(cls, order: BrokerOrder, at: datetime, reference_price: Decimal | None = None) -> Order:
        """A new order in INITIALIZED; `at` comes from the caller's clock."""
        at = utc(at)
        return cls(order=order, created_at=at, updated_at=at, reference_price=reference_price)

    @property
    def client_order_id(self) -> str:
        """The id the broker sees and deduplicates on."""
        return self.order.client_order_id

    @property
    def remaining_quantity(self) -> Decimal:
        """What is left to fill (zero once the order is terminal)."""
        if self.status.is_terminal:
            return Decimal("0")
        return self.order.quantity - self.filled_quantity

    @property
    def is_terminal(self) -> bool:
        """Whether the order reached a final status."""
        return self.status.is_terminal

    def _move(self, target: OrderStatus, at: datetime, reason: str | None = None) -> OrderStatusUpdate:
        check_transition(self.status, target, self.client_order_id)
        at = utc(at)
        update = OrderStatusUpdate(
            client_order_id=self.client_order_id,
            sequence=len(self.history),
            previous_status=self.status,
            status=target,
            occurred_at=at,
            reason=reason,
            broker_order_id=self.broker_order_id,
        )
        self.status = target
        self.updated_at = at
        self.history.append(update)
        if reason is not None:
            self.reason = reason
        if target.is_terminal and self.completed_at is None:
            self.completed_at = at
        return update

    def submit(self, at: datetime) -> OrderStatusUpdate:
        """Mark the order as handed to the broker."""
        self.submitted_at = utc(at)
        return self._move(S.SUBMITTED, at)

    def accept(
        self, broker_order_id: str, at: datetime, broker_time: datetime | None = None
    ) -> OrderStatusUpdate | None:
        """The broker acknowledged the order (at `broker_time` on its clock); a repeat changes nothing."""
        self.broker_order_id = broker_order_id
        if broker_time is not None and self.broker_submitted_at is None:
            self.broker_submitted_at = utc(broker_time)
        if (
            self.status in (S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED)
            or self.status in _LATE_FILL
        ):
            return None
        if self.accepted_at is None:
            self.accepted_at = utc(at)
        return self._move(S.ACCEPTED, at)

    def reject(self, reason: str, at: datetime) -> OrderStatusUpdate:
        """The broker, or the pre-trade check before it, refused the order."""
        return self._move(S.REJECTED, at, reason)

    def trigger(self, at: datetime) -> OrderStatusUpdate | None:
        """A stop order's stop price was reached."""
        if self.status is not S.ACCEPTED:
            return None
        return self._move(S.TRIGGERED, at)

    def request_cancel(self, at: datetime) -> OrderStatusUpdate:
        """A cancel was sent; the broker's answer resolves it."""
        return self._enter_pending(S.PENDING_CANCEL, at)

    def request_amend(self, at: datetime) -> OrderStatusUpdate:
        """An amend (replace) was sent; the broker's answer resolves it."""
        return self._enter_pending(S.PENDING_UPDATE, at)

    def _enter_pending(self, target: OrderStatus, at: datetime) -> OrderStatusUpdate:
        previous = self.status
        update = self._move(target, at)
        if not previous.is_pending:
            self.status_before_pending = previous
        return update

    def refuse_pending(self, reason: str, at: datetime) -> OrderStatusUpdate:
        """The broker refused the cancel or amend: back to the status before it."""
        if not self.status.is_pending:
            raise IllegalTransitionError(self.status, "previous", self.client_order_id)
        target = self.status_before_pending or S.ACCEPTED
        self.status_before_pending = None
        return self._move(target, at, reason)

    def replaced(self, new_order: BrokerOrder, broker_order_id: str, at: datetime) -> OrderStatusUpdate:
        """The broker replaced the order: new terms and a new broker order id."""
        if new_order.quantity < self.filled_quantity:
            raise OverfillError(f"order {self.client_order_id}: new quantity below the filled quantity")
        self.order = new_order
        self.broker_order_id = broker_order_id
        target = S.PARTIALLY_FILLED if self.filled_quantity > 0 else S.ACCEPTED
        if self.status_before_pending is S.TRIGGERED and self.filled_quantity == 0:
            target = S.TRIGGERED
        if self.filled_quantity == new_order.quantity:
            target = S.FILLED
        self.status_before_pending = None
        return self._move(target, at, "replaced")

    def cancel(self, at: datetime, reason: str | None = None) -> OrderStatusUpdate | None:
        """The broker canceled the order; a repeated cancel changes nothing."""
        if self.status is S.CANCELED:
            return None
        if self.status is S.INITIALIZED:
            self.status_before_pending = None
        return self._move(S.CANCELED, at, reason)

    def expire(self, at: datetime, reason: str | None = None) -> OrderStatusUpdate | None:
        """The order's time in force ran out; a repeated expiry changes nothing."""
        if self.status is S.EXPIRED:
            return None
        return self._move(S.EXPIRED, at, reason)

    def apply_execution(self, report: ExecutionReport) -> OrderStatusUpdate | None:
        """Record a fill once; raise on a duplicate id or an overfill. Late fills still count."""
        key = _fill_key(report)
        if report.execution_id in self.execution_ids or (key is not None and key in self.fill_keys):
            # The same fill can come from two sources (stream and activities) under different ids.
            raise DuplicateExecutionError(report.execution_id, self.client_order_id)
        if report.client_order_id != self.client_order_id:
            raise ForeignReportError(f"execution {report.execution_id} belongs to {report.client_order_id}")
        if self.status not in _FILLABLE and not self.status.is_pending and self.status not in _LATE_FILL:
            raise IllegalTransitionError(self.status, S.PARTIALLY_FILLED, self.client_order_id)
        total = self.filled_quantity + report.quantity
        if total > self.order.quantity:
            raise OverfillError(
                f"order {self.client_order_id}: fill {report.execution_id} takes {total} above {self.order.quantity}"
            )
        if self.status in _LATE_FILL:
            self.late_fills += 1
        self._add_fill(report, total)
        return self._status_after_fill(report.executed_at)

    def _add_fill(self, report: ExecutionReport, total: Decimal) -> None:
        previous_value = (self.avg_fill_price or Decimal("0")) * self.filled_quantity
        self.avg_fill_price = (previous_value + report.notional) / total
        self.filled_quantity = total
        self.commission += report.commission
        self.fees += report.fees
        self.execution_ids.append(report.execution_id)
        key = _fill_key(report)
        if key is not None:
            self.fill_keys.append(key)
        self.updated_at = max(self.updated_at, report.executed_at)

    def _status_after_fill(self, at: datetime) -> OrderStatusUpdate | None:
        if self.filled_quantity == self.order.quantity:
            self.status_before_pending = None
            return self._move(S.FILLED, at)
        if self.status.is_pending:
            self.status_before_pending = S.PARTIALLY_FILLED
            return None
        if self.status in _LATE_FILL:
            return None
        return self._move(S.PARTIALLY_FILLED, at)

    def apply_fee(self, fee: FeeReport) -> bool:
        """Add a commission or fee once (any status: fees are often charged after the fill)."""
        if fee.fee_id in self.fee_ids:
            return False
        if fee.client_order_id != self.client_order_id:
            raise ForeignReportError(f"fee {fee.fee_id} belongs to {fee.client_order_id}")
        if fee.kind is FeeKind.COMMISSION:
            self.commission += fee.amount
        else:
            self.fees += fee.amount
        self.fee_ids.append(fee.fee_id)
        return True

    def summary(self) -> dict[str, Any]:
        """Status, quantities, price and fees as plain values (for queries and the CLI)."""
        return {
            "client_order_id": self.client_order_id,
            "broker_order_id": self.broker_order_id,
            "status": str(self.status),
            "quantity": self.order.quantity,
            "filled_qty": self.filled_quantity,
            "remaining_qty": self.remaining_quantity,
            "avg_fill_price": self.avg_fill_price,
            "commission": self.commission,
            "fees": self.fees,
            "reason": self.reason,
        }
