"""The order workflow's bookkeeping: applying broker information, recording it, and what the UI shows.

A mixin of OrderWorkflow (workflow code: deterministic only).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from activities.models import OrderView, PollInput, PollResult, RecordInput
    from activities.order_activities import AlertSpec, OrderActivities, OrderAlertsInput
    from domain.broker_integration import (
        BrokerOrder,
        DomainError,
        ExecutionReport,
        Order,
        OrderSnapshot,
        OrderStatus,
        OrderStatusUpdate,
        TradeEvent,
    )
    from domain.broker_integration.reconcile import apply_execution_once, apply_snapshot_status, apply_trade_event
    from domain.broker_integration.rules.anomalies import Alert
    from domain.broker_integration.rules.live_anomalies import (
        TimingThresholds,
        conflicting_execution,
        late_acknowledgement,
        overdue,
        refused_report,
        status_regression,
    )

    from .options import BROKER, CONNECTION_ID, ORDER_SIDE, ORDER_STATUS, ORDER_TYPE, POLL, QUICK, RECORD, SYMBOL
    from .state import OrderWorkflowInput, OrderWorkflowState

__all__ = ["FOLD_RECORDS", "LEAN_HISTORY", "OrderTracking"]

S = OrderStatus
# One patch for the history reductions of issue 10 (one marker per order instead of one per change).
LEAN_HISTORY = "lean-history"
# The next reductions (issue 10): records folded into submit_order and finish_order, records and polls as
# local activities. It implies every earlier patch of the order workflow, so a new history has one marker.
FOLD_RECORDS = "fold-records"


class OrderTracking:
    """State changes from broker snapshots, events and polls, and their recording (each change once)."""

    request: OrderWorkflowInput
    state: OrderWorkflowState
    events: list[TradeEvent]
    client_order_id: str
    # After a failed local poll the next one runs remotely (`_poll_once`). Not state: decided by the polls'
    # recorded outcomes, so a replay decides the same.
    _poll_remotely: bool = False

    def status(self) -> OrderView:
        raise NotImplementedError

    # ---- patches ------------------------------------------------------------------------------------

    def _folded(self) -> bool:
        """Whether this run takes the `fold-records` path (first asked where `lean-history` was first asked)."""
        return workflow.patched(FOLD_RECORDS)

    def _lean(self) -> bool:
        return self._folded() or workflow.patched(LEAN_HISTORY)

    def _patched(self, patch_id: str) -> bool:
        """An earlier patch: implied by `fold-records` (asked first), so new histories carry no marker of it."""
        return self._folded() or workflow.patched(patch_id)

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
        if not applied and report is not None:
            self._check_duplicate(report)
        if applied and report is not None:
            self.state.last_fill_at = workflow.now()
            self.state.executions.append(report)
            self.state.execution_count += 1
            self.state.unrecorded_executions.append(report)
            owner = report.broker_order_id or (self.state.broker_order_ids or [""])[-1]
            filled = self.state.filled_by_broker_order.get(owner, Decimal(0))
            self.state.filled_by_broker_order[owner] = filled + report.quantity
            # Later polls ask only for fills from shortly before the newest one seen (the broker's clock).
            newest = report.executed_at - timedelta(minutes=5)
            if self.state.poll_since is None or newest > self.state.poll_since:
                self.state.poll_since = newest

    def _apply_snapshot(self, snapshot: OrderSnapshot) -> None:
        if self.state.poll_since is None:
            # Fills are asked for in the broker's time, which need not be ours.
            anchor = snapshot.submitted_at or workflow.now()
            self.state.poll_since = anchor - timedelta(seconds=30)
        if snapshot.broker_order_id not in self.state.broker_order_ids:
            self.state.broker_order_ids.append(snapshot.broker_order_id)
        order = self._order
        if order.status == "SUBMITTED":
            self._track(order.accept(snapshot.broker_order_id, workflow.now(), snapshot.submitted_at))
            self._queue_alert(late_acknowledgement(order, self._timing()))
        self._resolve_unknown_amend(snapshot)
        # A status (cancel, expiry) is applied only once every fill of that broker order is in:
        # each broker order (a replacement starts from zero) is compared with its own fills.
        recorded = self.state.filled_by_broker_order.get(snapshot.broker_order_id, Decimal(0))
        if snapshot.filled_quantity <= recorded:
            self._track(*apply_snapshot_status(order, snapshot, workflow.now()))

    def _resolve_unknown_amend(self, snapshot: OrderSnapshot) -> None:
        """An amend with an unknown outcome: the live order, unreplaced and not pending, says it did not apply."""
        order = self._order
        if self.state.pending_amend is None:
            return
        if order.status is not S.PENDING_UPDATE or order.is_terminal:
            self.state.pending_amend = None
            return
        live = snapshot.replaced_by is None and not snapshot.status.is_terminal
        if live and snapshot.status is not S.PENDING_UPDATE and snapshot.broker_order_id == order.broker_order_id:
            self.state.pending_amend = None
            self._track(order.refuse_pending("amend not applied at the broker", workflow.now()))

    def _is_replacement(self, result: PollResult) -> bool:
        """Whether the poll found a broker order that replaced the one we follow (ours or done elsewhere)."""
        live, ids = result.snapshot, self.state.broker_order_ids
        if live is None or not ids or live.broker_order_id in ids:
            return False
        return live.replaces in ids or any(r.broker_order_id == ids[-1] for r in result.replaced)

    def _follow_replacement(self, result: PollResult) -> None:
        """Track the replacement: its id, and its terms (the amend's, else the broker's)."""
        live = result.snapshot
        assert live is not None
        order, ids = self._order, self.state.broker_order_ids
        for hop in result.replaced:
            if hop.broker_order_id not in ids:
                ids.append(hop.broker_order_id)
        ids.append(live.broker_order_id)
        terms = self.state.pending_amend or self._terms_of(live, result.replaced)
        self.state.pending_amend = None
        if not order.status.is_pending:
            # Replaced outside brokerflow: the history shows the change as it happened at the broker.
            self._track(order.request_amend(workflow.now()))
        try:
            self._track(order.replaced(terms, live.broker_order_id, workflow.now()))
        except DomainError as exc:
            workflow.logger.error("replacement %s not applied: %s", live.broker_order_id, exc)

    def _terms_of(self, live: OrderSnapshot, replaced: list[OrderSnapshot]) -> BrokerOrder:
        """The order's terms after a replace we did not ask for; the replacement's quantity is what was left."""
        hops = {r.broker_order_id: r.filled_quantity for r in replaced}
        earlier = sum((q for bid, q in self.state.filled_by_broker_order.items()
                       if bid not in hops and bid != live.broker_order_id), Decimal(0))
        total = earlier + sum(hops.values(), Decimal(0)) + live.quantity
        fields = self._order.order.model_dump()
        fields["quantity"] = max(total, self._order.filled_quantity)
        if live.limit_price is not None:
            fields["price"] = live.limit_price
        if live.stop_price is not None:
            fields["stop_price"] = live.stop_price
        return BrokerOrder(**fields)

    def _apply_events(self) -> bool:
        events, self.events = self.events, []
        changed = False
        for event in events:
            try:
                updates, applied = apply_trade_event(self._order, event)
            except DomainError as exc:
                workflow.logger.warning("event %s not applied: %s", event.kind, exc)
                self._queue_alert(refused_report(self._order, type(exc).__name__, f"event {event.kind}: {exc}"))
                continue
            self._track(*updates)
            self._note_execution(applied, event.execution)
            changed = changed or applied or bool(updates)
        return changed

    def _poll_input(self) -> PollInput:
        return PollInput(connection_id=self.state.connection_id or "", client_order_id=self.client_order_id,
                         broker_order_ids=list(self.state.broker_order_ids), since=self.state.poll_since)

    async def _poll_once(self) -> PollResult | None:
        # A poll only reads: a local activity (one marker) on the `fold-records` path. A local activity runs on
        # this workflow's worker only, and a worker whose broker session cannot see the order (an account
        # missing from its session pool, the likeliest way `make chaos` lost a fill) would fail every poll of it and
        # the poll after a refused cancel, for good. So after a local poll failed the next one is a remote
        # activity, which any worker may run, as every poll did before `fold-records`; after it, local again.
        local = self._folded() and not self._poll_remotely
        try:
            result: PollResult = await self._activity(OrderActivities.poll_order, self._poll_input(), "poll", POLL,
                                                      local=local)
        except ActivityError as err:
            workflow.logger.warning("poll failed: %s", err.cause)
            self._poll_remotely = local
            return None
        self._poll_remotely = False
        return result

    async def _poll_and_apply(self) -> bool:
        result = await self._poll_once()
        if result is None:
            self.state.stream_healthy = False
            return False
        return self._apply_poll(result)

    def _apply_poll(self, result: PollResult) -> bool:
        """Apply what a poll found; whether the order changed."""
        self.state.stream_healthy = result.stream_healthy
        before = (self._order.status, self._order.filled_quantity, self._order.fees, self._order.broker_order_id)
        self._check_regression(result.snapshot)
        if self._is_replacement(result) and self._patched("follow-replacements"):
            # New terms first: the replacement's fills may go beyond the old quantity.
            self._follow_replacement(result)
        for report in sorted(result.executions, key=lambda r: r.executed_at):
            try:
                applied, update = apply_execution_once(self._order, report)
            except DomainError as exc:
                workflow.logger.error("execution %s not applied: %s", report.execution_id, exc)
                self._queue_alert(refused_report(self._order, type(exc).__name__, str(exc)))
                continue
            self._track(update)
            self._note_execution(applied, report)
        for fee in result.fees:
            try:
                if self._order.apply_fee(fee):
                    self.state.unrecorded_fees.append(fee)
            except DomainError as exc:
                workflow.logger.error("fee %s not applied: %s", fee.fee_id, exc)
        if result.snapshot is not None:
            self._apply_snapshot(result.snapshot)
        return before != (self._order.status, self._order.filled_quantity, self._order.fees,
                          self._order.broker_order_id)

    async def _flush(self) -> None:
        order = self.state.order
        if order is None:
            return
        folded = self._folded()
        # On the `fold-records` path a finished order is stored with its last look and outcome (`_finish`).
        if not (folded and order.is_terminal and self._finishes_locally()):
            record = self._take_unrecorded()
            if record.updates or record.executions or record.fees or order.status == "INITIALIZED":
                await self._activity(OrderActivities.record_order, record, f"record {order.status}", RECORD,
                                     local=folded)
        self._upsert_status()
        await self._raise_alerts()

    def _finishes_locally(self) -> bool:
        """Whether `_finish` runs as a local activity. An order the broker canceled or expired may still
        fill: its last look runs after this workflow task (after a cancel's caller has its answer), as a
        remote activity, as it did before; its final status is stored at once, before the answer."""
        return not (self.state.submitted and self._order.status in (S.CANCELED, S.EXPIRED))

    def _take_unrecorded(self) -> RecordInput:
        """The order with the changes not stored yet (taken: the caller stores them)."""
        updates, self.state.unrecorded_updates = self.state.unrecorded_updates, []
        executions, self.state.unrecorded_executions = self.state.unrecorded_executions, []
        fees, self.state.unrecorded_fees = self.state.unrecorded_fees, []
        return RecordInput(order=self._order, updates=updates, executions=executions, fees=fees)

    def _upsert_status(self) -> None:
        order = self._order
        status = ORDER_STATUS.value_set(str(order.status))
        if self._lean():
            # OrderStatus only when it changed, with the static attributes still pending: one event at most.
            pending = self._pending_attributes()
            self._upsert_changed([*pending, status])
            pending.clear()
        else:
            workflow.upsert_search_attributes([status])
        self._details()

    # ---- anomalies of the running order -----------------------------------------------------------------

    def _timing(self) -> TimingThresholds:
        request = self.request
        return TimingThresholds(ack_timeout=timedelta(seconds=request.ack_timeout_seconds),
                                fill_timeout=timedelta(seconds=request.fill_timeout_seconds),
                                stall_timeout=timedelta(seconds=request.stall_timeout_seconds))

    def _pending_alerts(self) -> list[Alert]:
        # Not workflow state: queued and raised within one locked step (every apply is followed by a flush).
        pending: list[Alert] = self.__dict__.setdefault("_alerts_to_raise", [])
        return pending

    def _queue_alert(self, alert: Alert | None) -> None:
        """Remember an alert to raise at the next flush; each kind once per order."""
        pending = self._pending_alerts()
        if alert is not None and alert.kind not in self.state.raised_alerts \
                and all(a.kind != alert.kind for a in pending):
            pending.append(alert)

    def _check_duplicate(self, report: ExecutionReport) -> None:
        known = next((e for e in self.state.executions if e.execution_id == report.execution_id), None)
        if known is not None:
            self._queue_alert(conflicting_execution(known, report))

    def _check_regression(self, snapshot: OrderSnapshot | None) -> None:
        """Compare the broker's report with what was known before it was asked for (fills arriving with it
        are newer than the report)."""
        order = self._order
        if snapshot is None or snapshot.broker_order_id != order.broker_order_id:
            return
        recorded = self.state.filled_by_broker_order.get(snapshot.broker_order_id, Decimal(0))
        self._queue_alert(status_regression(order, snapshot.status, snapshot.filled_quantity, recorded))

    async def _raise_alerts(self) -> None:
        """Raise the queued alerts and those the clock brings (late ack, not filling, stalled partial fill)."""
        order = self._order
        if self.state.submitted:
            for alert in overdue(order, workflow.now(), self._timing(), self.state.last_fill_at):
                self._queue_alert(alert)
        pending = self._pending_alerts()
        if not pending or not self._patched("order-anomaly-alerts"):
            pending.clear()
            return
        alerts, pending[:] = list(pending), []
        self.state.raised_alerts.extend(a.kind for a in alerts)
        request = OrderAlertsInput(order=order, alerts=[AlertSpec.of(a) for a in alerts])
        try:
            await self._activity(OrderActivities.raise_order_alerts, request,
                                 "alerts " + ", ".join(a.kind for a in alerts), QUICK, local=self._folded())
        except ActivityError as err:
            workflow.logger.warning("alerts %s not raised: %s", [a.kind for a in alerts], err.cause)

    # ---- helpers --------------------------------------------------------------------------------------

    async def _activity(self, fn: Any, arg: Any, summary: str, options: dict[str, Any], local: bool = False) -> Any:
        if local:
            # A local activity: one marker in the history, no activity events nor a workflow task of its own.
            try:
                return await workflow.execute_local_activity_method(fn, arg, summary=summary, **options)
            except ActivityError:
                raise
            except FailureError as err:
                # A local activity's failure arrives unwrapped: wrap it as a (remote) activity's would be,
                # so the callers' handling (ActivityError, its cause) is the same for both.
                raise ActivityError(str(err), scheduled_event_id=0, started_event_id=0, identity="",
                                    activity_type=getattr(fn, "__name__", "activity"), activity_id="",
                                    retry_state=None) from err
        if "result_type" in options:  # an activity that answers one of several types (submit_order)
            return await workflow.execute_activity(fn, arg, summary=summary, **options)
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
        if self._lean():
            # Those the starter set already are left out; the rest go with the next status upsert.
            self._pending_attributes().extend(attributes)
            return
        workflow.upsert_search_attributes(attributes)

    def _pending_attributes(self) -> list[Any]:
        # Not workflow state: filled and flushed within one run (at the next flush, or at the end).
        pending: list[Any] = self.__dict__.setdefault("_attributes_to_upsert", [])
        return pending

    def _upsert_changed(self, attributes: list[Any]) -> None:
        """One upsert of the attributes whose value differs from the workflow's current ones (none: no event)."""
        have = workflow.info().typed_search_attributes
        changed = [a for a in attributes if have.get(a.key) != a.value]
        if changed:
            workflow.upsert_search_attributes(changed)

    def _details(self) -> None:
        view = self.status()
        avg = f" @ {view.avg_fill_price:.4f}" if view.avg_fill_price is not None else ""
        reason = f"\n\nreason: {view.reason}" if view.reason else ""
        workflow.set_current_details(
            f"**{view.status}** {view.side} {view.filled_qty}/{view.quantity} {view.symbol}{avg}  \n"
            f"broker order: {view.broker_order_id or '-'} · fees {view.fees} · commission {view.commission}{reason}"
        )
