"""The order workflow's cancel and amend handlers' work (the update declarations stay on OrderWorkflow)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import AmendRequest, CancelInput, CancelRequest, ChangeResult, ReplaceInput
    from activities.order_activities import BROKER_REJECTED, PRE_TRADE_REFUSED, OrderActivities
    from domain.broker_integration import BrokerOrder, OrderSnapshot, OrderStatus

    from . import amend as amend_rules
    from .options import QUICK
    from .order_tracking import OrderTracking

__all__ = ["CONFIRM_PENDING_CHANGES", "OrderChanges"]

# A cancel the broker took but has not finished is confirmed by polling, even while the stream is healthy.
CONFIRM_PENDING_CHANGES = "confirm-pending-changes"


class OrderChanges(OrderTracking):
    """Cancel and amend against the broker; a refused change returns the order to where it was."""

    confirm_pending = False

    async def _cancel(self, request: CancelRequest) -> ChangeResult:
        order = self.state.order
        if order is not None and not self.state.submitted and order.status == "CANCELED":
            return ChangeResult(accepted=True, status="CANCELED", message="canceled before it reached the broker")
        if order is None or order.is_terminal or not self.state.broker_order_ids:
            status = "REJECTED" if order is None else str(order.status)
            return ChangeResult(accepted=False, status=status, message="order is no longer open")
        if order.status is OrderStatus.PENDING_UPDATE and self.state.pending_amend is not None:
            # An amend's outcome is still unknown: find the live order before canceling it.
            await self._poll_and_apply()
            if order.is_terminal:
                await self._flush()
                return ChangeResult(accepted=False, status=str(order.status), message="order is no longer open")
        self._track(order.request_cancel(workflow.now()))
        await self._flush()
        try:
            await self._activity(OrderActivities.cancel_order,
                                 CancelInput(connection_id=self.state.connection_id or "",
                                             broker_order_id=self.state.broker_order_ids[-1]), "cancel", QUICK)
        except ActivityError as err:
            await self._poll_and_apply()
            if order.status.is_pending:
                self._track(order.refuse_pending(f"cancel refused: {err.cause}", workflow.now()))
            await self._flush()
            return ChangeResult(accepted=False, status=str(order.status), broker_order_id=order.broker_order_id,
                                message=f"broker refused the cancel: {err.cause}")
        await self._poll_and_apply()
        await self._flush()
        if order.status.is_pending and self._patched(CONFIRM_PENDING_CHANGES):
            # Its event may be lost (a killed worker, a stream gap): the follow loop polls until it ends.
            self.confirm_pending = True
        return ChangeResult(accepted=True, status=str(order.status), broker_order_id=order.broker_order_id,
                            message=request.reason or "cancel accepted by the broker")

    async def _amend(self, request: AmendRequest) -> ChangeResult:
        order = self._order
        try:
            # Fills may have come in since the validator ran: check again under the lock.
            amend_rules.validate(order, request)
        except ValueError as exc:
            return ChangeResult(accepted=False, status=str(order.status), message=str(exc))
        new_order = amend_rules.amended_order(order, request)
        self._track(order.request_amend(workflow.now()))
        await self._flush()
        replace = ReplaceInput(connection_id=self.state.connection_id or "",
                               broker_order_id=self.state.broker_order_ids[-1],
                               client_order_id=order.client_order_id, amendment=request.amendment(),
                               amended=new_order)
        try:
            snapshot: OrderSnapshot = await self._activity(OrderActivities.replace_order, replace, "replace", QUICK)
        except ActivityError as err:
            cause = err.cause
            refused = isinstance(cause, ApplicationError) and cause.type in (BROKER_REJECTED, PRE_TRADE_REFUSED)
            if not refused and self._patched("amend-outcome-unknown"):
                return await self._resolve_amend(new_order, err)
            self._track(order.refuse_pending(f"amend refused: {cause}", workflow.now()))
            await self._flush()
            return ChangeResult(accepted=False, status=str(order.status), broker_order_id=order.broker_order_id,
                                message=f"{_refuser(cause)} refused the amend: {cause}")
        self.state.broker_order_ids.append(snapshot.broker_order_id)
        self._track(order.replaced(new_order, snapshot.broker_order_id, workflow.now()))
        await self._flush()
        return ChangeResult(accepted=True, status=str(order.status), broker_order_id=snapshot.broker_order_id,
                            message=f"replaced: {new_order.describe()}")

    async def _resolve_amend(self, new_order: BrokerOrder, err: ActivityError) -> ChangeResult:
        """The replace may or may not have happened: the broker's order (followed by a poll) decides."""
        order = self._order
        before = order.broker_order_id
        self.state.pending_amend = new_order
        await self._poll_and_apply()
        await self._flush()
        if order.broker_order_id != before:
            return ChangeResult(accepted=True, status=str(order.status), broker_order_id=order.broker_order_id,
                                message=f"replaced: {order.order.describe()}")
        if order.status is not OrderStatus.PENDING_UPDATE:
            return ChangeResult(accepted=False, status=str(order.status), broker_order_id=order.broker_order_id,
                                message=f"amend not applied at the broker: {err.cause}")
        return ChangeResult(accepted=False, status=str(order.status), broker_order_id=order.broker_order_id,
                            message=f"amend outcome unknown ({err.cause}); being resolved with the broker")


def _refuser(cause: BaseException | None) -> str:
    """Who said no: our pre-trade check or the broker."""
    pre_trade = isinstance(cause, ApplicationError) and cause.type == PRE_TRADE_REFUSED
    return "the pre-trade check" if pre_trade else "broker"
