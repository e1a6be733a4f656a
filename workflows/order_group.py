"""OrderGroupWorkflow: a bracket, OCO or OTO group, native at the broker or emulated with child orders.

Emulated: each leg is a child OrderWorkflow (id order-<group id>-en|tp|sl). A leg signals the group on every
change of status or fill; the pure OrderGroup state machine turns that into actions (activate a held leg, cancel
or reduce a sibling), carried out as a child start or a `group_change` signal. Everything is in the histories, so a
worker crash between a fill and the sibling's cancel resumes on replay where it stopped.

Native: the broker holds the group (Alpaca order classes); the group follows its orders by polling (see
workflows/order_group_native.py). Deterministic only.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, FailureError
from temporalio.workflow import ChildWorkflowHandle, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.group_activities import GroupActivities
    from activities.group_models import (
        GroupCapabilitiesInput,
        GroupCapabilitiesResult,
        GroupPath,
        GroupView,
        LegChange,
        LegChangeKind,
        LegUpdate,
        LegView,
        OrderGroupInput,
        order_group_workflow_id,
    )
    from activities.models import CancelRequest, OrderOutcome
    from domain.broker_integration import (
        ActionKind,
        GroupAction,
        LegEvent,
        LegEventKind,
        LegRole,
        OrderGroup,
    )
    from domain.broker_integration.order_groups import leg_client_order_id

    from .order_group_native import NativeGroup
    from .order_workflow import OrderWorkflow, order_workflow_id
    from .state import OrderWorkflowInput

__all__ = ["OrderGroupWorkflow", "leg_event", "order_group_workflow_id"]

_KINDS = {"PARTIALLY_FILLED": LegEventKind.PARTIALLY_FILLED, "FILLED": LegEventKind.FILLED,
          "CANCELED": LegEventKind.CANCELED, "EXPIRED": LegEventKind.EXPIRED, "REJECTED": LegEventKind.REJECTED}
QUICK: dict[str, Any] = {"start_to_close_timeout": timedelta(seconds=30),
                         "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=20))}


def leg_event(role: LegRole, update: LegUpdate) -> LegEvent:
    """A leg order's status as a group event: any working status is ACCEPTED (PARTIALLY_FILLED once it filled)."""
    kind = _KINDS.get(update.status)
    if kind is None:
        kind = LegEventKind.PARTIALLY_FILLED if update.filled_quantity > 0 else LegEventKind.ACCEPTED
    return LegEvent(role=role, kind=kind, filled_quantity=update.filled_quantity, reason=update.reason)


@workflow.defn
class OrderGroupWorkflow:
    @workflow.init
    def __init__(self, request: OrderGroupInput) -> None:
        self.request = request
        self.group = OrderGroup.create(request.group)
        self.path: GroupPath | None = request.path
        self.updates: list[LegUpdate] = []
        self.orders: dict[LegRole, LegUpdate] = {}
        self.cancel_reason: str | None = None
        self.reason: str | None = None
        self.watchers: list[asyncio.Task[None]] = []
        self.roles = {leg_client_order_id(request.group.group_id, r): r for r in request.group.roles}

    @workflow.run
    async def run(self, request: OrderGroupInput) -> GroupView:
        if self.path is None:
            self.path = await self._choose_path()
        if self.path is GroupPath.NATIVE:
            await NativeGroup(self).run()
        else:
            await self._run_emulated()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.group.both_exits_filled:
            workflow.logger.error("group %s: both exits filled at the broker", request.group.group_id)
        return self.state()

    async def _choose_path(self) -> GroupPath:
        connection_id = self.request.group.connection_id or ""
        try:
            found: GroupCapabilitiesResult = await workflow.execute_activity_method(
                GroupActivities.group_capabilities, GroupCapabilitiesInput(connection_id=connection_id),
                summary="capabilities", **QUICK)
        except ActivityError as err:
            workflow.logger.warning("capabilities of %s unknown (%s): emulating", connection_id, err.cause)
            return GroupPath.EMULATED
        return GroupPath.NATIVE if found.supports_order_classes else GroupPath.EMULATED

    # ---- the emulated path ----------------------------------------------------------------------------

    async def _run_emulated(self) -> None:
        await self._carry_out(self.group.start())
        while not self.group.is_terminal:
            await workflow.wait_condition(lambda: bool(self.updates) or self._cancel_due())
            if self._cancel_due():
                await self._carry_out(self.group.cancel(self.cancel_reason or "canceled"))
            updates, self.updates = self.updates, []
            for update in updates:
                await self._carry_out(self.note(update))
        # Each leg's final word (a fill after its cancel still counts: both exits filled is flagged).
        await asyncio.gather(*self.watchers)
        for update in self.updates:
            self.note(update)
        self.updates.clear()

    def _cancel_due(self) -> bool:
        return self.cancel_reason is not None and self.group.cancel_requested is None and not self.group.is_terminal

    def note(self, update: LegUpdate) -> list[GroupAction]:
        """Remember a leg order's news and apply it to the group; the actions that follow."""
        role = self.roles.get(update.client_order_id)
        if role is None:
            workflow.logger.warning("update for an unknown leg %s", update.client_order_id)
            return []
        known = self.orders.get(role)
        if known is None or update.filled_quantity >= known.filled_quantity:
            self.orders[role] = update
        return self.group.apply(leg_event(role, update))

    async def _carry_out(self, actions: list[GroupAction]) -> None:
        for action in actions:
            workflow.logger.info("group %s: %s %s (%s)", self.request.group.group_id, action.kind, action.role,
                                 action.reason)
            if action.kind is ActionKind.ACTIVATE:
                await self._start_leg(action.role, action.quantity)
            else:
                kind = LegChangeKind.CANCEL if action.kind is ActionKind.CANCEL else LegChangeKind.REDUCE
                await self._signal_leg(action.role, LegChange(kind=kind, quantity=action.quantity,
                                                              reason=action.reason))

    async def _start_leg(self, role: LegRole, quantity: Decimal | None) -> None:
        order = self.request.group.broker_order(role, quantity)
        leg = OrderWorkflowInput(
            client_order_id=order.client_order_id, symbol=order.symbol, side=order.side, quantity=order.quantity,
            order_type=order.order_type, limit_price=order.price, stop_price=order.stop_price,
            time_in_force=order.time_in_force, asset_class=order.asset_class, connection_id=order.connection_id,
            account_id=order.account_id, poll_interval_seconds=self.request.poll_interval_seconds,
            safety_poll_seconds=self.request.safety_poll_seconds)
        try:
            handle = await workflow.start_child_workflow(
                OrderWorkflow.run, leg, id=order_workflow_id(order.client_order_id),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                # The legs are orders at the broker: they live on (and can be canceled) if the group is closed.
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"{role} of group {self.request.group.group_id}: {order.describe()}")
        except FailureError as err:
            self.updates.append(LegUpdate(client_order_id=order.client_order_id, status="REJECTED",
                                          reason=f"leg not started: {err}"))
            return
        self.watchers.append(asyncio.create_task(self._watch(order.client_order_id, handle)))

    async def _watch(self, client_order_id: str, handle: ChildWorkflowHandle[Any, OrderOutcome]) -> None:
        """The leg's final word: its result (the signals before it carried every change up to it)."""
        try:
            outcome = await handle
        except FailureError as err:
            self.updates.append(LegUpdate(client_order_id=client_order_id, status="REJECTED",
                                          reason=f"leg workflow failed: {err.cause or err}"))
            return
        view = outcome.view
        self.updates.append(LegUpdate(client_order_id=client_order_id, status=view.status,
                                      filled_quantity=view.filled_qty, avg_fill_price=view.avg_fill_price,
                                      broker_order_id=view.broker_order_id, reason=view.reason))

    async def _signal_leg(self, role: LegRole, change: LegChange) -> None:
        child = order_workflow_id(leg_client_order_id(self.request.group.group_id, role))
        try:
            await workflow.get_external_workflow_handle(child).signal(OrderWorkflow.group_change, change)
        except FailureError as err:  # the leg already ended: its result brings its final state
            workflow.logger.warning("leg %s not signaled: %s", child, err)

    # ---- messages -------------------------------------------------------------------------------------

    @workflow.signal
    def leg_update(self, update: LegUpdate) -> None:
        """A leg order's change of status or fill (sent by the leg's workflow, or found by a poll)."""
        self.updates.append(update)

    @workflow.query
    def state(self) -> GroupView:
        """The group's status and each leg's status and fills."""
        request = self.request.group
        legs = []
        for leg in self.group.legs:
            order = self.orders.get(leg.role)
            legs.append(LegView(
                role=leg.role, client_order_id=leg_client_order_id(request.group_id, leg.role), status=leg.status,
                order_status=order.status if order else None, quantity=leg.quantity,
                filled_quantity=leg.filled_quantity, avg_fill_price=order.avg_fill_price if order else None,
                broker_order_id=order.broker_order_id if order else None, reason=leg.reason))
        return GroupView(group_id=request.group_id, kind=request.kind, symbol=request.symbol,
                         status=self.group.status, path=self.path, connection_id=request.connection_id, legs=legs,
                         both_exits_filled=self.group.both_exits_filled,
                         reason=self.reason or self.group.cancel_requested)

    @workflow.update
    async def cancel(self, request: CancelRequest) -> GroupView:
        """Cancel the group: live legs canceled, held legs never placed; fills already made stay."""
        if self.cancel_reason is None:
            self.cancel_reason = request.reason or "canceled by the caller"
        await workflow.wait_condition(lambda: self.group.cancel_requested is not None or self.group.is_terminal)
        return self.state()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        if self.group.is_terminal:
            raise ValueError(f"group {self.request.group.group_id} is {self.group.status}; nothing to cancel")
