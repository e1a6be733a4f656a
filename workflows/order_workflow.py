"""OrderWorkflow: one order from request to final state, exactly once at the broker. Deterministic only."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.models import (
        AmendRequest,
        CancelInput,
        CancelRequest,
        ChangeResult,
        OrderOutcome,
        OrderView,
        PollInput,
        PollResult,
        PreTradeInput,
        PreTradeResult,
        RecordInput,
        ReplaceInput,
        RouteInput,
        RouteResult,
        SessionInput,
        SessionResult,
        SubmitInput,
    )
    from activities.order_activities import OrderActivities
    from domain.broker_integration import (
        BrokerOrder,
        DomainError,
        ExecutionReport,
        InvalidOrderError,
        Order,
        OrderSnapshot,
        OrderStatusUpdate,
        TradeEvent,
    )
    from domain.broker_integration.reconcile import apply_execution_once, apply_snapshot_status, apply_trade_event

    from . import amend as amend_rules
    from .options import (
        BROKER,
        CONNECTION_ID,
        ORDER_SIDE,
        ORDER_STATUS,
        ORDER_TYPE,
        POLL,
        QUICK,
        RECORD,
        SUBMIT,
        SYMBOL,
    )
    from .state import OrderWorkflowInput, OrderWorkflowState, view_of

__all__ = ["OrderWorkflow", "order_workflow_id"]

MAX_POLL_SECONDS = 60.0


def order_workflow_id(client_order_id: str) -> str:
    """The workflow id of an order: one order per client order id."""
    return f"order-{client_order_id}"


@workflow.defn
class OrderWorkflow:
    @workflow.init
    def __init__(self, request: OrderWorkflowInput) -> None:
        self.request = request
        self.state = request.carried or OrderWorkflowState()
        self.lock = asyncio.Lock()
        self.events: list[TradeEvent] = []
        self.client_order_id = request.client_order_id or workflow.info().workflow_id.removeprefix("order-")

    # ---- run -------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: OrderWorkflowInput) -> OrderOutcome:
        if self.state.order is None and self.state.rejection is None:
            async with self.lock:
                await self._open()
        if self.state.order is not None and self.state.submitted:
            await self._follow()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._outcome()

    async def _open(self) -> None:
        try:
            order = self.request.to_broker_order()
            order = BrokerOrder(**{**order.model_dump(), "client_order_id": self.client_order_id})
        except InvalidOrderError as exc:
            self._refuse(str(exc))
            return
        try:
            checked = await self._route_and_check(order)
        except ActivityError as err:
            # Nothing reached the broker: the order ends here, with the reason.
            self._refuse(f"not submitted: {err.cause or err}")
            await self._flush()
            return
        if checked is not None:
            await self._submit()

    async def _route_and_check(self, order: BrokerOrder) -> BrokerOrder | None:
        """Route, authenticate and run the pre-trade check; None when the order was refused."""
        route: RouteResult = await self._activity(OrderActivities.route_order, RouteInput(order=order),
                                                  "route", QUICK)
        if route.connection_id is None:
            self._refuse(f"no connection can take the order: {route.reason}")
            return None
        order = BrokerOrder(**{**order.model_dump(), "connection_id": route.connection_id})
        self.state.connection_id = route.connection_id
        session: SessionResult = await self._activity(
            OrderActivities.ensure_session, SessionInput(connection_id=route.connection_id), "session", QUICK
        )
        self.state.broker = session.broker
        self._index_static(order)
        if not session.ready:
            self._refuse(f"connection {route.connection_id} not ready: {session.reason}")
            return None
        check: PreTradeResult = await self._activity(OrderActivities.pre_trade_check, PreTradeInput(order=order),
                                                     "pre-trade check", QUICK)
        self.state.order = Order.create(order, workflow.now(), reference_price=check.reference_price)
        if not check.ok:
            self._track(self.state.order.reject(f"pre-trade: {check.reason}", workflow.now()))
            await self._flush()
            return None
        return order

    def _refuse(self, reason: str) -> None:
        """End an order that never reached the broker (and was never stored): REJECTED with the reason."""
        if self.state.order is not None:
            self._track(self.state.order.reject(reason, workflow.now()))
        self.state.rejection = reason
        self._details()

    async def _submit(self) -> None:
        order = self._order
        self._track(order.submit(workflow.now()))
        await self._flush()
        try:
            snapshot: OrderSnapshot = await self._activity(
                OrderActivities.submit_order, SubmitInput(order=order.order), f"submit {order.order.describe()}", SUBMIT
            )
        except ActivityError as err:
            snapshot_or_none = await self._after_failed_submit(err)
            if snapshot_or_none is None:
                return
            snapshot = snapshot_or_none
        self.state.submitted = True
        self._apply_snapshot(snapshot)
        await self._flush()
        if snapshot.filled_quantity > self._order.filled_quantity and workflow.patched("poll-when-ack-shows-fills"):
            # The acknowledgement already shows fills: fetch them now instead of after a poll interval.
            await self._poll_and_apply()
            await self._flush()

    async def _after_failed_submit(self, err: ActivityError) -> OrderSnapshot | None:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "BrokerRejected":
            self._track(self._order.reject(cause.message, workflow.now()))
            await self._flush()
            return None
        # Retries ran out with the outcome unknown: the broker decides, by client order id.
        result = await self._poll_once()
        if result is not None and result.snapshot is not None:
            return result.snapshot
        self._track(self._order.reject(f"broker unreachable, order not placed: {cause}", workflow.now()))
        await self._flush()
        return None

    def _should_continue_as_new(self, polls: int) -> bool:
        if self._order.is_terminal:
            return False
        limit = self.request.continue_as_new_after
        return workflow.info().is_continue_as_new_suggested() or (limit is not None and polls >= limit)

    async def _follow(self) -> None:
        idle = 0
        polls = 0
        while not self._order.is_terminal:
            interval = min(self.request.poll_interval_seconds * (2 ** min(idle, 6)), MAX_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(self.events) or self._order.is_terminal,
                                              timeout=timedelta(seconds=interval), timeout_summary="poll")
            async with self.lock:
                changed = self._apply_events() if self.events else await self._poll_and_apply()
                await self._flush()
            idle = 0 if changed else idle + 1
            polls += 1
            if self._should_continue_as_new(polls):
                await workflow.wait_condition(workflow.all_handlers_finished)
                self.state.runs += 1
                carry = self.request.model_copy(update={"carried": self.state})
                workflow.continue_as_new(carry)
        async with self.lock:
            # One last look: a fill can arrive after the cancel, and must still be recorded.
            await self._poll_and_apply()
            await self._flush()

    # ---- applying broker information ---------------------------------------------------------------

    @property
    def _order(self) -> Order:
        assert self.state.order is not None
        return self.state.order

    def _track(self, *updates: OrderStatusUpdate | None) -> None:
        for update in updates:
            if update is not None:
                self.state.unrecorded_updates.append(update)

    def _note_execution(self, applied: bool, report: ExecutionReport | None) -> None:
        if applied and report is not None:
            self.state.executions.append(report)
            self.state.unrecorded_executions.append(report)

    def _apply_snapshot(self, snapshot: OrderSnapshot) -> None:
        if self.state.poll_since is None:
            # Fills are asked for in the broker's time, which need not be ours.
            anchor = snapshot.submitted_at or workflow.now()
            self.state.poll_since = anchor - timedelta(seconds=30)
        if snapshot.broker_order_id not in self.state.broker_order_ids:
            self.state.broker_order_ids.append(snapshot.broker_order_id)
        order = self._order
        if order.status == "SUBMITTED":
            self._track(order.accept(snapshot.broker_order_id, workflow.now()))
        if snapshot.filled_quantity <= order.filled_quantity:
            self._track(*apply_snapshot_status(order, snapshot, workflow.now()))

    def _apply_events(self) -> bool:
        events, self.events = self.events, []
        changed = False
        for event in events:
            try:
                updates, applied = apply_trade_event(self._order, event)
            except DomainError as exc:
                workflow.logger.warning("event %s not applied: %s", event.kind, exc)
                continue
            self._track(*updates)
            self._note_execution(applied, event.execution)
            changed = changed or applied or bool(updates)
        return changed

    async def _poll_once(self) -> PollResult | None:
        request = PollInput(connection_id=self.state.connection_id or "", client_order_id=self.client_order_id,
                            broker_order_ids=list(self.state.broker_order_ids), since=self.state.poll_since)
        try:
            result: PollResult = await self._activity(OrderActivities.poll_order, request, "poll", POLL)
        except ActivityError as err:
            workflow.logger.warning("poll failed: %s", err.cause)
            return None
        return result

    async def _poll_and_apply(self) -> bool:
        result = await self._poll_once()
        if result is None:
            return False
        before = (self._order.status, self._order.filled_quantity, self._order.fees)
        for report in sorted(result.executions, key=lambda r: r.executed_at):
            try:
                applied, update = apply_execution_once(self._order, report)
            except DomainError as exc:
                workflow.logger.error("execution %s not applied: %s", report.execution_id, exc)
                continue
            self._track(update)
            self._note_execution(applied, report)
        for fee in result.fees:
            if self._order.apply_fee(fee):
                self.state.unrecorded_fees.append(fee)
        if result.snapshot is not None:
            self._apply_snapshot(result.snapshot)
        return before != (self._order.status, self._order.filled_quantity, self._order.fees)

    async def _flush(self) -> None:
        order = self.state.order
        if order is None:
            return
        updates, self.state.unrecorded_updates = self.state.unrecorded_updates, []
        executions, self.state.unrecorded_executions = self.state.unrecorded_executions, []
        fees, self.state.unrecorded_fees = self.state.unrecorded_fees, []
        if updates or executions or fees or order.status == "INITIALIZED":
            record = RecordInput(order=order, updates=updates, executions=executions, fees=fees)
            await self._activity(OrderActivities.record_order, record, f"record {order.status}", RECORD)
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(str(order.status))])
        self._details()

    # ---- messages -----------------------------------------------------------------------------------

    @workflow.signal
    def trade_event(self, event: TradeEvent) -> None:
        """A broker event for this order, forwarded from the connection's stream."""
        self.events.append(event)

    @workflow.query
    def status(self) -> OrderView:
        """State, filled and remaining quantity, average price, fees and the broker's order id."""
        return view_of(self.state, self.client_order_id, self.request.symbol, str(self.request.side),
                       self.request.quantity)

    @workflow.query
    def executions(self) -> list[ExecutionReport]:
        """Every execution recorded so far, oldest first."""
        return list(self.state.executions)

    @workflow.update
    async def wait_for_ack(self) -> OrderView:
        """Return once the broker acknowledged (or the order was rejected)."""
        await workflow.wait_condition(
            lambda: self.state.rejection is not None or self.state.submitted
            or (self.state.order is not None and self.state.order.is_terminal)
        )
        return self.status()

    @workflow.update
    async def cancel(self, request: CancelRequest) -> ChangeResult:
        """Cancel the order; the answer says whether the broker took the cancel."""
        info = workflow.current_update_info()
        update_id = info.id if info is not None else ""
        if update_id in self.state.handled_updates:
            return self.state.handled_updates[update_id]
        async with self.lock:
            result = await self._cancel(request)
        self.state.handled_updates[update_id] = result
        return result

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self.state.rejection is not None:
            raise ValueError(f"order {self.client_order_id} was rejected; nothing to cancel")
        order = self.state.order
        if order is not None and order.is_terminal:
            raise ValueError(f"order {self.client_order_id} is {order.status}; nothing to cancel")

    async def _cancel(self, request: CancelRequest) -> ChangeResult:
        order = self.state.order
        if order is None or order.is_terminal or not self.state.broker_order_ids:
            status = "REJECTED" if order is None else str(order.status)
            return ChangeResult(accepted=False, status=status, message="order is no longer open")
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
        return ChangeResult(accepted=True, status=str(order.status), broker_order_id=order.broker_order_id,
                            message=request.reason or "cancel accepted by the broker")

    @workflow.update
    async def amend(self, request: AmendRequest) -> ChangeResult:
        """Change quantity, limit price, stop price or trail; the broker's answer comes back."""
        info = workflow.current_update_info()
        update_id = info.id if info is not None else ""
        if update_id in self.state.handled_updates:
            return self.state.handled_updates[update_id]
        async with self.lock:
            result = await self._amend(request)
        self.state.handled_updates[update_id] = result
        return result

    @amend.validator
    def _validate_amend(self, request: AmendRequest) -> None:
        if self.state.rejection is not None:
            raise ValueError(f"order {self.client_order_id} was rejected; nothing to amend")
        amend_rules.validate(self.state.order, request)

    async def _amend(self, request: AmendRequest) -> ChangeResult:
        order = self._order
        if order.is_terminal or order.status.is_pending:
            return ChangeResult(accepted=False, status=str(order.status), message="order cannot be amended now")
        new_order = amend_rules.amended_order(order, request)
        self._track(order.request_amend(workflow.now()))
        await self._flush()
        replace = ReplaceInput(connection_id=self.state.connection_id or "",
                               broker_order_id=self.state.broker_order_ids[-1],
                               client_order_id=order.client_order_id, amendment=request.amendment())
        try:
            snapshot: OrderSnapshot = await self._activity(OrderActivities.replace_order, replace, "replace", QUICK)
        except ActivityError as err:
            self._track(order.refuse_pending(f"amend refused: {err.cause}", workflow.now()))
            await self._flush()
            return ChangeResult(accepted=False, status=str(order.status), broker_order_id=order.broker_order_id,
                                message=f"broker refused the amend: {err.cause}")
        self.state.broker_order_ids.append(snapshot.broker_order_id)
        self._track(order.replaced(new_order, snapshot.broker_order_id, workflow.now()))
        await self._flush()
        return ChangeResult(accepted=True, status=str(order.status), broker_order_id=snapshot.broker_order_id,
                            message=f"replaced: {new_order.describe()}")

    # ---- helpers --------------------------------------------------------------------------------------

    async def _activity(self, fn: Any, arg: Any, summary: str, options: dict[str, Any]) -> Any:
        return await workflow.execute_activity_method(fn, arg, summary=summary, **options)

    def _index_static(self, order: BrokerOrder) -> None:
        attributes = [
            SYMBOL.value_set(order.symbol),
            ORDER_SIDE.value_set(str(order.side)),
            ORDER_TYPE.value_set(str(order.order_type)),
            CONNECTION_ID.value_set(order.connection_id or ""),
        ]
        if self.state.broker:
            attributes.append(BROKER.value_set(self.state.broker))
        workflow.upsert_search_attributes(attributes)

    def _details(self) -> None:
        view = self.status()
        avg = f" @ {view.avg_fill_price:.4f}" if view.avg_fill_price is not None else ""
        reason = f"\n\nreason: {view.reason}" if view.reason else ""
        workflow.set_current_details(
            f"**{view.status}** {view.side} {view.filled_qty}/{view.quantity} {view.symbol}{avg}  \n"
            f"broker order: {view.broker_order_id or '-'} · fees {view.fees} · commission {view.commission}{reason}"
        )

    def _outcome(self) -> OrderOutcome:
        return OrderOutcome(view=self.status(), executions=len(self.state.executions), alerts=self.state.alerts)
