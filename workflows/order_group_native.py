"""The native path of OrderGroupWorkflow: the broker holds the group and couples its legs (Alpaca order classes).

The group is submitted once (a retry looks the parent up by its client order id first), then followed by polls of
the parent order and its legs until every leg has ended. Each leg is recorded as an order of its own
(`<group id>-en|tp|sl`, with its status history and executions) through the order workflow's recording activity.
A group cancel cancels the live legs at the broker.

Pre-trade (`workflow.patched(NATIVE_PRE_TRADE)`; groups started before it run as they did): the single order's
check and ledger reservation run on the entry before the group is sent (an OCO: on both exits, against the
position, held once), a refusal rejects the group with nothing sent; a bracket's exits reserve the position once
the entry has ended filled; each leg's reservation is released when its order ends. Deterministic only.

A submit whose retries ran out with the outcome unknown (`workflow.patched(NATIVE_RESOLVE)`) is resolved at the
broker: the group is looked up by its tag, with a growing delay while the broker cannot answer, and followed if
the broker holds it; it is refused (and its reservations released) only when the broker says it has no such group.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.group_activities import GroupActivities
    from activities.group_models import (
        GroupPollInput,
        GroupPollResult,
        GroupPreTradeInput,
        GroupPreTradeResult,
        GroupReleaseInput,
        LegUpdate,
        SubmitGroupInput,
    )
    from activities.models import CancelInput, RecordInput
    from activities.order_activities import OrderActivities
    from domain.broker_integration import (
        DomainError,
        ExecutionReport,
        GroupKind,
        LegEvent,
        LegEventKind,
        LegRole,
        Order,
        OrderSnapshot,
        OrderStatusUpdate,
    )
    from domain.broker_integration.reconcile import apply_execution_once, apply_snapshot_status

    from .options import FINAL_BROKER_ERRORS
    from .options import POLL as _POLL
    from .options import QUICK as _QUICK
    from .options import RECORD as _RECORD
    from .options import SUBMIT as _SUBMIT

if TYPE_CHECKING:
    from .order_group import OrderGroupWorkflow

__all__ = ["NATIVE_PRE_TRADE", "NATIVE_RESOLVE", "NativeGroup"]

# The native path runs the pre-trade check and ledger reservation (issue 8); groups started before run without.
NATIVE_PRE_TRADE = "native-group-pre-trade"
# After a submit whose retries ran out with the outcome unknown, the group is looked up by its tag before it is
# refused (a group the broker holds is followed); groups started before refuse it at once.
NATIVE_RESOLVE = "native-group-resolve-unknown-submit"

# Typed for execute_activity_method's keyword arguments.
POLL: dict[str, Any] = _POLL
QUICK: dict[str, Any] = _QUICK
RECORD: dict[str, Any] = _RECORD
SUBMIT: dict[str, Any] = _SUBMIT


class NativeGroup:
    """Submit the group natively and follow its legs to their end."""

    def __init__(self, flow: OrderGroupWorkflow) -> None:
        self.flow = flow
        self.request = flow.request.group
        self.orders: dict[LegRole, Order] = {}
        self.since: datetime | None = None
        self.canceled = False
        self.checked = False  # the pre-trade check and reservations are on (decided once, at the start)
        self.released: set[LegRole] = set()
        self.exits_reserved = False

    async def run(self) -> None:
        group = self.flow.group
        group.start()  # the actions are the broker's to carry out
        self.checked = workflow.patched(NATIVE_PRE_TRADE)
        if self.checked and not await self._pre_trade():
            return
        try:
            found: GroupPollResult = await workflow.execute_activity_method(
                GroupActivities.submit_group, SubmitGroupInput(group=self.request),
                summary=f"submit {self.request.kind} {self.request.group_id}", **SUBMIT)
        except ActivityError as err:
            resolved = await self._after_failed_submit(err) if workflow.patched(NATIVE_RESOLVE) else None
            if resolved is None:
                self._refuse(f"not submitted: {err.cause or err}")
                if self.checked:
                    await self._release_all()
                return
            found = resolved
        await self._apply(found)
        # Until every leg's order has ended too (a held leg is canceled at the broker after the group ends).
        while not group.is_terminal or any(not order.is_terminal for order in self.orders.values()):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._cancel_due(),
                                              timeout=timedelta(seconds=self.flow.request.poll_interval_seconds),
                                              timeout_summary="poll")
            if self._cancel_due():
                await self._cancel()
            with contextlib.suppress(ActivityError):
                polled: GroupPollResult = await workflow.execute_activity_method(
                    GroupActivities.poll_group, self._poll_input(), summary="poll", **POLL)
                await self._apply(polled)

    async def _after_failed_submit(self, err: ActivityError) -> GroupPollResult | None:
        """The group as the broker has it after the submit's retries ran out; None: not placed.

        A refusal is final. Otherwise the outcome is unknown: the broker decides, by the parent's client
        order id, looked up with a growing delay until it answers. A group the broker holds is followed
        like one whose submit answered; only "not found" refuses it. Never "not placed" on a guess.
        """
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in FINAL_BROKER_ERRORS:  # nothing was placed
            return None
        delay = min(self.flow.request.poll_interval_seconds, 10.0)
        while True:
            await workflow.sleep(timedelta(seconds=delay), summary="resolve the submission at the broker")
            try:
                found: GroupPollResult = await workflow.execute_activity_method(
                    GroupActivities.poll_group, GroupPollInput(group=self.request), summary="look up", **POLL)
            except ActivityError as failed:
                workflow.logger.warning("group %s not resolved yet: %s", self.request.group_id, failed.cause)
                delay = min(delay * 2, 300.0)
                continue
            return found if found.legs else None

    def _refuse(self, reason: str) -> None:
        self.flow.reason = reason
        for role in self.request.roles:
            self.flow.group.apply(LegEvent(role=role, kind=LegEventKind.REJECTED, reason=reason))

    async def _pre_trade(self) -> bool:
        """The entry (an OCO: its exits) through the pre-trade check and reserved; False: refused, not sent."""
        first = self.request.roles if self.request.kind is GroupKind.OCO else (LegRole.ENTRY,)
        try:
            checked: GroupPreTradeResult = await workflow.execute_activity_method(
                GroupActivities.pre_trade_group, GroupPreTradeInput(group=self.request, roles=list(first)),
                summary="pre-trade", **QUICK)
        except ActivityError as err:
            self._refuse(f"not submitted: {err.cause or err}")
            return False
        if not checked.ok:
            self._refuse(f"not submitted: pre-trade: {checked.reason}")
        return checked.ok

    async def _reserve_exits(self) -> None:
        """A bracket's (or OTO's) exits hold the position the entry bought, once it has ended filled."""
        entry = self.orders.get(LegRole.ENTRY)
        if self.exits_reserved or entry is None or not entry.is_terminal or entry.filled_quantity <= 0:
            return
        self.exits_reserved = True
        # Not an exit that has ended already (a group cancel can end them a poll before the entry ends): its
        # reservation was released and must not be taken again.
        exits = [role for role in self.request.roles if role is not LegRole.ENTRY and role not in self.released
                 and not (role in self.orders and self.orders[role].is_terminal)]
        if not exits:
            return
        try:
            checked: GroupPreTradeResult = await workflow.execute_activity_method(
                GroupActivities.pre_trade_group,
                GroupPreTradeInput(group=self.request, roles=exits, quantity=entry.filled_quantity, enforce=False),
                summary="reserve exits", **QUICK)
        except ActivityError as err:
            workflow.logger.warning("exits of %s not reserved: %s", self.request.group_id, err.cause)
            return
        if not checked.ok:  # the broker holds them anyway: say so, go on
            workflow.logger.warning("exits of %s not reserved: %s", self.request.group_id, checked.reason)

    async def _release_ended(self) -> None:
        """Release the reservation of each leg whose order has ended (once)."""
        ended = [role for role, order in self.orders.items() if order.is_terminal and role not in self.released]
        if not ended:
            return
        self.released.update(ended)
        ids = [self.orders[role].client_order_id for role in ended]
        with contextlib.suppress(ActivityError):  # the ledger's own sweep releases what is left
            await workflow.execute_activity_method(
                GroupActivities.release_group_legs,
                GroupReleaseInput(client_order_ids=ids, reason="leg ended"), summary="release", **QUICK)

    def _poll_input(self) -> GroupPollInput:
        return GroupPollInput(group=self.request, since=self.since)

    def _cancel_due(self) -> bool:
        return self.flow.cancel_reason is not None and not self.canceled and not self.flow.group.is_terminal

    async def _cancel(self) -> None:
        """Cancel every live leg at the broker (the broker cancels the rest of the group with it)."""
        self.canceled = True
        self.flow.group.cancel(self.flow.cancel_reason or "canceled")
        for role, order in self.orders.items():
            if order.is_terminal or order.broker_order_id is None:
                continue
            try:
                await workflow.execute_activity_method(
                    OrderActivities.cancel_order,
                    CancelInput(connection_id=self.request.connection_id or "", broker_order_id=order.broker_order_id),
                    summary=f"cancel {role}", **QUICK)
            except ActivityError as err:  # already ended: the next poll says how
                workflow.logger.warning("cancel of %s refused: %s", role, err.cause)

    async def _release_all(self) -> None:
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity_method(
                GroupActivities.release_group_legs,
                GroupReleaseInput(client_order_ids=[self.request.broker_order(r).client_order_id
                                                    for r in self.request.roles], reason="group not submitted"),
                summary="release", **QUICK)

    async def _apply(self, result: GroupPollResult) -> None:
        await self._apply_legs(result)
        if self.checked:
            if self.request.kind is not GroupKind.OCO:
                await self._reserve_exits()
            await self._release_ended()

    async def _apply_legs(self, result: GroupPollResult) -> None:
        for role in self.request.roles:
            snapshot = result.legs.get(role)
            if snapshot is None:
                continue
            fills = [e for e in result.executions if e.broker_order_id == snapshot.broker_order_id]
            updates, executions = self._apply_leg(role, snapshot, fills)
            order = self.orders[role]
            if updates or executions:
                await workflow.execute_activity_method(
                    OrderActivities.record_order, RecordInput(order=order, updates=updates, executions=executions),
                    summary=f"record {role} {order.status}", **RECORD)
            self.flow.note(LegUpdate(
                client_order_id=order.client_order_id, status=str(order.status),
                filled_quantity=order.filled_quantity, avg_fill_price=order.avg_fill_price,
                broker_order_id=order.broker_order_id, reason=order.reason))

    def _apply_leg(self, role: LegRole, snapshot: OrderSnapshot, fills: list[ExecutionReport]
                   ) -> tuple[list[OrderStatusUpdate], list[ExecutionReport]]:
        """The leg's new fills, then its status (a cancel only once every fill of it is in)."""
        now = workflow.now()
        updates: list[OrderStatusUpdate | None] = []
        order = self.orders.get(role)
        if order is None:
            order = Order.create(self.request.broker_order(role, snapshot.quantity), now)
            self.orders[role] = order
            updates.append(order.submit(now))
        if self.since is None:
            self.since = (snapshot.submitted_at or now) - timedelta(seconds=30)
        applied_fills = []
        for report in sorted(fills, key=lambda r: r.executed_at):
            mine = ExecutionReport(**{**report.model_dump(), "client_order_id": order.client_order_id})
            if order.status.value == "SUBMITTED":
                updates.append(order.accept(snapshot.broker_order_id, now, snapshot.submitted_at))
            try:
                applied, update = apply_execution_once(order, mine)
            except DomainError as exc:
                workflow.logger.error("execution %s of %s not applied: %s", report.execution_id, role, exc)
                continue
            if applied:
                applied_fills.append(mine)
                updates.append(update)
        if snapshot.filled_quantity <= order.filled_quantity:
            updates += apply_snapshot_status(order, snapshot, now)
        return [u for u in updates if u is not None], applied_fills
