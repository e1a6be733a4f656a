"""OrderWorkflow: one order from request to final state, exactly once at the broker. Deterministic only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.group_models import LegChange, LegChangeKind, LegUpdate
    from activities.models import (
        AmendRequest,
        CancelRequest,
        ChangeResult,
        FinishInput,
        FinishResult,
        OrderOutcome,
        OrderView,
        OutcomeInput,
        OutcomeResult,
        PrepareInput,
        PrepareResult,
        PreTradeInput,
        PreTradeResult,
        RouteInput,
        RouteResult,
        SessionInput,
        SessionResult,
        SubmitInput,
        SubmitResult,
    )
    from activities.order_activities import OrderActivities
    from domain.broker_integration import (
        BrokerOrder,
        ExecutionReport,
        InvalidOrderError,
        Order,
        OrderSnapshot,
        TradeEvent,
    )
    from domain.broker_integration.rules.live_anomalies import late_acknowledgement
    from domain.broker_integration.rules.metrics import ExecutionMetrics
    from domain.broker_integration.rules.routing import is_smart

    from . import amend as amend_rules
    from .options import (
        QUICK,
        RECORD,
        SUBMIT,
    )
    from .order_changes import OrderChanges
    from .state import OrderWorkflowInput, OrderWorkflowState, view_of

__all__ = ["GROUP_LEG_SIGNAL", "OrderWorkflow", "order_workflow_id"]

MAX_POLL_SECONDS = 60.0
MAX_CARRIED_EXECUTIONS = 200
# The last look at a canceled or expired order waits this long (in the activity, no history events).
LATE_FILL_SETTLE_SECONDS = 1.0
# A leg of an order group signals its group on each change (issue 8); only orders with a parent do.
GROUP_LEG_SIGNAL = "group-leg-signal"


def _on_route(order: BrokerOrder, route: RouteResult) -> BrokerOrder:
    """The order on the connection (and, when routed, the account) its route chose."""
    changes: dict[str, object] = {"connection_id": route.connection_id}
    if route.decision is not None and route.account_id:
        changes["account_id"] = route.account_id
    return BrokerOrder(**{**order.model_dump(), **changes})


def order_workflow_id(client_order_id: str) -> str:
    """The workflow id of an order: one order per client order id."""
    return f"order-{client_order_id}"


@workflow.defn
class OrderWorkflow(OrderChanges):
    @workflow.init
    def __init__(self, request: OrderWorkflowInput) -> None:
        self.request = request
        self.state = request.carried or OrderWorkflowState()
        self.lock = asyncio.Lock()
        self.events: list[TradeEvent] = []
        self.client_order_id = request.client_order_id or workflow.info().workflow_id.removeprefix("order-")
        self.metrics: ExecutionMetrics | None = None

    # ---- run -------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: OrderWorkflowInput) -> OrderOutcome:
        if self.state.order is None and self.state.rejection is None:
            async with self.lock:
                await self._open()
        if self.state.order is not None and self.state.submitted:
            await self._follow()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.state.order is not None:
            if self._folded():
                async with self.lock:
                    await self._finish()
            elif workflow.patched("record-outcome"):
                await self._record_outcome()
        pending = self._pending_attributes()
        if pending:  # static attributes of an order refused before any status was recorded
            self._upsert_changed(pending)
            pending.clear()
        return self._outcome()

    async def _record_outcome(self) -> None:
        """Metrics and anomaly rules of the finished order; their failure never fails the order."""
        try:
            result: OutcomeResult = await self._activity(
                OrderActivities.record_outcome, OutcomeInput(order=self._order), "metrics and anomalies", QUICK,
                local=self._lean())
        except ActivityError as err:
            workflow.logger.warning("metrics not recorded: %s", err.cause)
            return
        self.metrics = result.metrics
        self.state.alerts = result.alerts

    async def _finish(self) -> None:
        """Store the finished order, take the last look and record the outcome: one local activity, two
        when the last look finds something (a fill after the cancel, fees posted as their own records)."""
        order = self._order
        record = self._take_unrecorded()
        poll = self._poll_input() if self.state.submitted else None
        local = self._finishes_locally()
        # An order that may still fill looks a moment later: a fill racing the cancel has time to show.
        settle = 0.0 if local else LATE_FILL_SETTLE_SECONDS
        try:
            result: FinishResult = await self._activity(
                OrderActivities.finish_order, FinishInput(record=record, poll=poll, settle_seconds=settle),
                f"finish {order.status}", RECORD, local=local)
        except ActivityError as err:  # not retryable (RECORD retries until the database is back)
            workflow.logger.error("order %s not finished: %s", self.client_order_id, err.cause)
            return
        outcome = result.outcome
        if result.poll is not None:
            self._apply_poll(result.poll)
        last = self._take_unrecorded()
        if outcome is None:
            try:
                outcome = await self._activity(
                    OrderActivities.record_outcome, OutcomeInput(order=self._order, record=last),
                    "metrics and anomalies", RECORD, local=True)
            except ActivityError as err:
                workflow.logger.warning("metrics not recorded: %s", err.cause)
        elif last.updates or last.executions or last.fees:  # the last look and the workflow disagree: store
            await self._activity(OrderActivities.record_order, last, f"record {order.status}", RECORD, local=True)
        if outcome is not None:
            self.metrics = outcome.metrics
            self.state.alerts = outcome.alerts
        self._upsert_status()
        await self._raise_alerts()
        await self._tell_group()

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
        if checked is None:
            return
        if self.state.cancel_requested is not None:
            self._track(self._order.cancel(workflow.now(), self.state.cancel_requested))
            await self._flush()
            return
        await self._submit()

    async def _route_and_check(self, order: BrokerOrder) -> BrokerOrder | None:
        """Route, authenticate and run the pre-trade check; None when the order was refused."""
        abandoned: dict[str, str] = {}
        # Routing, the session and the pre-trade check run as local activities (issue 10: history size);
        # none of them reaches the broker with the order, and each is retried as before.
        local = self._lean()
        while True:
            if self._folded() and not is_smart(order.connection_id):
                # A pinned connection: what route_order answers without looking anything up.
                route = RouteResult(connection_id=order.connection_id, account_id=order.account_id)
            else:
                route = await self._activity(
                    OrderActivities.route_order,
                    RouteInput(order=order, routing=self.request.routing, exclude=abandoned), "route", QUICK,
                    local=local)
            if route.connection_id is None:
                self._refuse(f"no connection can take the order: {route.reason}")
                return None
            self.state.connection_id = route.connection_id
            # Only a routed order may move: a pinned connection is the caller's choice.
            session, check = await self._wait_for_session(
                route.connection_id, reroutable=route.decision is not None, local=local,
                order=_on_route(order, route) if self._folded() else None)
            if session.ready or not self._reroute_allowed(route):
                break
            # Nothing was sent yet, so the first broker is known not to hold the order: route again without it.
            abandoned[route.connection_id] = f"session not ready ({session.status}): {session.reason}"
            workflow.logger.warning("order %s: connection %s abandoned before submission: %s",
                                    self.client_order_id, route.connection_id, session.reason)
        order = _on_route(order, route)
        self.state.broker = session.broker
        self._index_static(order)
        if self.state.cancel_requested is not None:
            self.state.order = Order.create(order, workflow.now())
            self.state.order.route = route.decision
            return order
        if not session.ready:
            self._refuse(f"connection {route.connection_id} not ready: {session.reason}")
            return None
        if check is None:
            check = await self._activity(OrderActivities.pre_trade_check, PreTradeInput(order=order),
                                         "pre-trade check", QUICK, local=local)
        self.state.order = Order.create(order, workflow.now(), reference_price=check.reference_price)
        self.state.order.route = route.decision
        if not check.ok:
            self._track(self.state.order.reject(f"pre-trade: {check.reason}", workflow.now()))
            await self._flush()
            return None
        return order

    def _reroute_allowed(self, route: RouteResult) -> bool:
        """A routed order whose connection is not ready goes elsewhere (histories before the patch waited)."""
        if route.decision is None or self.state.cancel_requested is not None:
            return False
        return self._patched("smart-reroute")

    async def _wait_for_session(self, connection_id: str, reroutable: bool = False, local: bool = False,
                                order: BrokerOrder | None = None) -> tuple[SessionResult, PreTradeResult | None]:
        """A usable session, waiting (bounded by session_wait_seconds) while the circuit is open; a routed
        order (`reroutable`) does not wait: it is routed elsewhere at once. With `order` (patch `fold-records`)
        the first try checks the order too when the session is ready (one local activity for both)."""
        deadline = workflow.now() + timedelta(seconds=self.request.session_wait_seconds)
        while True:
            check: PreTradeResult | None = None
            if order is not None:
                prepared: PrepareResult = await self._activity(
                    OrderActivities.prepare_order, PrepareInput(order=order), "session and pre-trade check", QUICK,
                    local=True)
                session, check, order = prepared.session, prepared.check, None
            else:
                session = await self._activity(
                    OrderActivities.ensure_session, SessionInput(connection_id=connection_id), "session", QUICK,
                    local=local)
            done = session.ready or session.status == "UNKNOWN" or workflow.now() >= deadline
            if done or self.state.cancel_requested is not None:
                return session, check
            if reroutable and self._patched("smart-reroute"):
                return session, check
            remaining = (deadline - workflow.now()).total_seconds()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.state.cancel_requested is not None,
                                              timeout=timedelta(seconds=max(min(5.0, remaining), 0.1)),
                                              timeout_summary="connection not ready")

    def _refuse(self, reason: str) -> None:
        """End an order that never reached the broker (and was never stored): REJECTED with the reason."""
        if self.state.order is not None:
            self._track(self.state.order.reject(reason, workflow.now()))
        self.state.rejection = reason
        self._details()

    async def _submit(self) -> None:
        if self._folded():
            snapshot_or_none = await self._submit_and_record()
            if snapshot_or_none is None:
                return
            snapshot = snapshot_or_none
        else:
            order = self._order
            self._track(order.submit(workflow.now()))
            await self._flush()
            try:
                snapshot = await self._activity(
                    OrderActivities.submit_order, SubmitInput(order=order.order), f"submit {order.order.describe()}",
                    {**SUBMIT, "result_type": OrderSnapshot})
            except ActivityError as err:
                snapshot_or_none = await self._after_failed_submit(err)
                if snapshot_or_none is None:
                    return
                snapshot = snapshot_or_none
            self.state.submitted = True
            self._apply_snapshot(snapshot)
            await self._flush()
        if snapshot.filled_quantity > self._order.filled_quantity and self._patched("poll-when-ack-shows-fills"):
            # The acknowledgement already shows fills: fetch them now instead of after a poll interval.
            await self._poll_and_apply()
            await self._flush()

    async def _submit_and_record(self) -> OrderSnapshot | None:
        """Submit; the activity stores the order SUBMITTED before the broker sees it and ACCEPTED after."""
        order = self._order
        self._track(order.submit(workflow.now()))
        record = self._take_unrecorded()
        self._upsert_status()  # what `_flush` does, but for the record: submit_order stores it
        await self._raise_alerts()
        await self._tell_group()
        try:
            # During a rolling deploy a worker from before `fold-records` may run it: it ignores `record`,
            # sends the order, stores nothing and answers the bare snapshot (hence the union).
            result: SubmitResult | OrderSnapshot = await self._activity(
                OrderActivities.submit_order, SubmitInput(order=order.order, record=record),
                f"submit {order.order.describe()}", {**SUBMIT, "result_type": SubmitResult | OrderSnapshot})
        except ActivityError as err:
            # No attempt may have stored the SUBMITTED change: the next record stores it (once).
            self.state.unrecorded_updates[:0] = record.updates
            return await self._submitted(await self._after_failed_submit(err))
        if isinstance(result, OrderSnapshot):  # an older worker's answer: store it all as before the patch
            self.state.unrecorded_updates[:0] = record.updates
            return await self._submitted(result)
        self.state.submitted = True
        self.state.order = result.order  # as stored: acknowledged on the server's clock, like workflow.now()
        snapshot = result.snapshot
        if self.state.poll_since is None:
            self.state.poll_since = (snapshot.submitted_at or workflow.now()) - timedelta(seconds=30)
        if snapshot.broker_order_id not in self.state.broker_order_ids:
            self.state.broker_order_ids.append(snapshot.broker_order_id)
        self._queue_alert(late_acknowledgement(self._order, self._timing()))
        # Events waiting, or fills the acknowledgement shows, are applied next and flushed once (one upsert).
        if not self.events and snapshot.filled_quantity <= self._order.filled_quantity:
            await self._flush()
        return snapshot

    async def _submitted(self, snapshot: OrderSnapshot | None) -> OrderSnapshot | None:
        """A submission known from a snapshot alone (no stored acknowledgement): apply it and store it."""
        if snapshot is not None:
            self.state.submitted = True
            self._apply_snapshot(snapshot)
            await self._flush()
        return snapshot

    async def _after_failed_submit(self, err: ActivityError) -> OrderSnapshot | None:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in ("BrokerRejected", "ClientOrderIdConflict"):
            self._track(self._order.reject(cause.message, workflow.now()))
            await self._flush()
            return None
        # Retries ran out with the outcome unknown: the broker decides, by client order id. Until the
        # broker can answer, the order stays SUBMITTED: it is never declared "not placed" on a guess.
        delay = 10.0
        while True:
            await workflow.sleep(timedelta(seconds=delay), summary="resolve the submission at the broker")
            result = await self._poll_once()
            if result is not None and result.snapshot is not None:
                return result.snapshot
            if result is not None:
                break
            delay = min(delay * 2, 300.0)
        self._track(self._order.reject(f"broker unreachable, order not placed: {cause}", workflow.now()))
        await self._flush()
        return None

    def _woken(self, deadline: asyncio.Task[None], confirming: bool) -> bool:
        """The follow loop's wait is over: an event, the end, the poll deadline, or a change to confirm."""
        return (bool(self.events) or self._order.is_terminal or deadline.done()
                or (not confirming and self.confirm_pending and self._order.status.is_pending))

    def _should_continue_as_new(self, polls: int) -> bool:
        if self._order.is_terminal:
            return False
        limit = self.request.continue_as_new_after
        return workflow.info().is_continue_as_new_suggested() or (limit is not None and polls >= limit)

    async def _follow(self) -> None:
        idle = 0
        polls = 0
        # One poll-deadline timer kept across events (a new one only after it fired), not one per wait.
        deadline: asyncio.Task[None] | None = None
        deadline_at = workflow.now()
        lean = self._lean()
        folded = self._folded()
        while not self._order.is_terminal:
            interval = min(self.request.poll_interval_seconds * (2 ** min(idle, 6)), MAX_POLL_SECONDS)
            quiet = self.state.stream_healthy and self._patched("quiet-polls-while-streaming")
            # A cancel or amend waiting for the broker's answer is confirmed by polling, stream or not: its
            # event may have been lost with a worker (found by `make chaos`: a cancel waited 15 minutes).
            confirming = self._order.status.is_pending and self.confirm_pending
            if quiet and not confirming:
                # The stream brings every change (and reconciles after a gap): poll only as a safety net.
                interval = max(interval, self.request.safety_poll_seconds)
            if folded and (self.events or (not confirming and self.confirm_pending and self._order.status.is_pending)):
                pass  # something to do already: no timer started for a wait that would not happen
            elif lean:
                if deadline is None or deadline.done() or (confirming and deadline_at > workflow.now() + timedelta(
                        seconds=interval)):
                    deadline = asyncio.create_task(workflow.sleep(timedelta(seconds=interval), summary="poll"))
                    deadline_at = workflow.now() + timedelta(seconds=interval)
                await workflow.wait_condition(functools.partial(self._woken, deadline, confirming))
            else:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: bool(self.events) or self._order.is_terminal,
                                                  timeout=timedelta(seconds=interval), timeout_summary="poll")
            async with self.lock:
                if folded and self._order.is_terminal and not self.events:
                    changed = False  # ended meanwhile (a cancel): the last look is part of `_finish`
                else:
                    changed = self._apply_events() if self.events else await self._poll_and_apply()
                await self._flush()
            idle = 0 if changed else idle + 1
            if quiet and not self.state.stream_healthy:
                idle = 0  # the stream is down (or unknown): speed back up from the first interval
            polls += 1
            if self._should_continue_as_new(polls):
                await workflow.wait_condition(workflow.all_handlers_finished)
                async with self.lock:
                    # Events that arrived meanwhile are applied here: signals are not carried to the new run.
                    self._apply_events()
                    await self._flush()
                if self.events or self._order.is_terminal:
                    continue
                self.state.runs += 1
                # The new run carries the latest executions only (the database holds them all).
                self.state.executions = self.state.executions[-MAX_CARRIED_EXECUTIONS:]
                carry = self.request.model_copy(update={"carried": self.state})
                workflow.continue_as_new(carry)
        if folded:
            return  # the last look is part of `_finish`
        async with self.lock:
            # One last look: a fill can arrive after the cancel, and must still be recorded.
            await self._poll_and_apply()
            await self._flush()

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
        """The executions recorded so far, oldest first (the latest 200 once the order has continued as new)."""
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
        if not self.state.submitted and self.state.cancel_requested is None:
            # Before submission the cancel is local: the order will not be sent at all.
            self.state.cancel_requested = request.reason or "canceled before it reached the broker"
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

    @workflow.signal
    async def group_change(self, change: LegChange) -> None:
        """From the order's group (a workflow cannot send updates): cancel, or reduce the quantity."""
        order = self.state.order
        if self.state.rejection is not None or (order is not None and order.is_terminal):
            return
        if change.kind is LegChangeKind.CANCEL:
            if not self.state.submitted and self.state.cancel_requested is None:
                self.state.cancel_requested = change.reason or "canceled by its group"
            async with self.lock:
                result = await self._cancel(CancelRequest(reason=change.reason))
        else:
            amend = AmendRequest(quantity=change.quantity)
            try:
                amend_rules.validate(order, amend)
            except ValueError as exc:
                workflow.logger.warning("group reduce of %s not applied: %s", self.client_order_id, exc)
                return
            async with self.lock:
                result = await self._amend(amend)
        if not result.accepted:
            workflow.logger.warning("group %s of %s refused: %s", change.kind, self.client_order_id, result.message)

    async def _flush(self) -> None:
        await super()._flush()
        await self._tell_group()

    async def _tell_group(self) -> None:
        """A leg of an order group tells its group of each change of status or fill, by signal (durable)."""
        parent, order = workflow.info().parent, self.state.order
        if parent is None or order is None:
            return
        told = (str(order.status), order.filled_quantity)
        if self.__dict__.get("_told_group") == told or not self._patched(GROUP_LEG_SIGNAL):
            return
        self.__dict__["_told_group"] = told  # not state: a new run (or a replay) tells again, the group dedups
        update = LegUpdate(client_order_id=self.client_order_id, status=str(order.status),
                           filled_quantity=order.filled_quantity, avg_fill_price=order.avg_fill_price,
                           broker_order_id=order.broker_order_id, reason=order.reason)
        try:
            await workflow.get_external_workflow_handle(parent.workflow_id).signal("leg_update", update)
        except FailureError as err:  # the group is gone: the order goes on alone
            workflow.logger.warning("group %s not told: %s", parent.workflow_id, err)

    def _outcome(self) -> OrderOutcome:
        count = max(self.state.execution_count, len(self.state.executions))
        return OrderOutcome(view=self.status(), executions=count, alerts=self.state.alerts,
                            metrics=self.metrics)
