"""OrderClient: the Python API other services use to start, steer and inspect orders."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.group_models import GroupPath, GroupView, OrderGroupInput, order_group_workflow_id
from activities.models import AmendRequest, CancelRequest, ChangeResult, OrderOutcome, OrderRequest, OrderView
from domain.broker_integration import ExecutionReport, OrderGroupRequest, OrderStatus
from domain.broker_integration.rules.routing import is_smart
from workflows.order_group import OrderGroupWorkflow
from workflows.order_workflow import OrderWorkflow, order_workflow_id
from workflows.state import OrderWorkflowInput

from .search_attributes import CONNECTION_ID, ORDER_SIDE, ORDER_TYPE, SYMBOL
from .settings import Settings, get_settings

__all__ = ["OrderChangeRejectedError", "OrderClient", "OrderGroupClient", "OrderNotFoundError", "OrderSummary",
           "summary_of"]


class OrderNotFoundError(LookupError):
    """No order workflow with that client order id."""


class OrderChangeRejectedError(RuntimeError):
    """A cancel or amend was refused (the order is closed, or the change cannot apply)."""


def summary_of(request: OrderRequest) -> str:
    """The static summary shown in the Web UI, e.g. 'BUY 100 AAPL LMT 150.00 via alpaca-sim/ACC1'."""
    described = request.to_broker_order().describe()
    return f"{described} {request.time_in_force} via {request.connection_id or 'auto'}/{request.account_id or '-'}"


OrderSummary = dict[str, Any]


class OrderGroupClient:
    """Start, cancel and inspect bracket/OCO/OTO groups (one OrderGroupWorkflow per group id)."""

    client: Client
    task_queue: str

    def group_handle(self, group_id: str) -> WorkflowHandle[Any, GroupView]:
        """The workflow handle of a group."""
        return self.client.get_workflow_handle_for(OrderGroupWorkflow.run, order_group_workflow_id(group_id))

    async def submit_group(self, group: OrderGroupRequest, *, path: GroupPath | None = None,
                           poll_interval_seconds: float = 2.0) -> str:
        """Start the group (once per group id; its legs are orders <group id>-en|tp|sl) and return its id."""
        request = OrderGroupInput(group=group, path=path, poll_interval_seconds=poll_interval_seconds)
        legs = ", ".join(f"{leg.role.lower()} {group.broker_order(leg.role).describe()}" for leg in group.legs)
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(
                OrderGroupWorkflow.run, request, id=order_group_workflow_id(group.group_id),
                task_queue=self.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"{group.kind} {group.symbol} via {group.connection_id}", static_details=legs)
        return group.group_id

    async def group_status(self, group_id: str) -> GroupView:
        """The group's state and each leg's (from its result once it has finished)."""
        handle = self.group_handle(group_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise OrderNotFoundError(f"no order group {group_id}") from exc
            raise
        if description.status is WorkflowExecutionStatus.COMPLETED:
            return await handle.result()
        view: GroupView = await handle.query(OrderGroupWorkflow.state)
        return view

    async def wait_group(self, group_id: str, timeout: float | None = None) -> GroupView:
        """Wait for the group's final state."""
        import asyncio

        return await asyncio.wait_for(self.group_handle(group_id).result(), timeout)

    async def cancel_group(self, group_id: str, reason: str | None = None) -> GroupView:
        """Cancel the group's live legs (held legs are never placed); raises OrderChangeRejectedError when done."""
        try:
            view: GroupView = await self.group_handle(group_id).execute_update(
                OrderGroupWorkflow.cancel, CancelRequest(reason=reason), rpc_timeout=timedelta(seconds=60))
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise OrderChangeRejectedError(str(getattr(cause, "message", None) or cause or exc)) from exc
        return view


class OrderClient(OrderGroupClient):
    """Start, cancel, amend and inspect orders (and order groups); every call is safe to retry."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> OrderClient:
        """A client for the configured Temporal server and task queue."""
        from .client import connect

        settings = settings or get_settings()
        return cls(await connect(settings), settings.task_queue)

    @staticmethod
    def prepare(request: OrderRequest) -> OrderRequest:
        """Validate (raising InvalidOrderError, nothing started) and give the order a client order id."""
        request.to_broker_order()
        if request.client_order_id:
            return request
        return request.model_copy(update={"client_order_id": f"bf-{uuid.uuid4().hex[:20]}"})

    @staticmethod
    def _input(request: OrderRequest) -> OrderWorkflowInput:
        return OrderWorkflowInput(**request.model_dump())

    def _start_options(self, request: OrderRequest) -> dict[str, Any]:
        return {
            "id": order_workflow_id(request.client_order_id or ""),
            "task_queue": self.task_queue,
            "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
            "static_summary": summary_of(request),
            "static_details": f"client order id `{request.client_order_id}`",
            "search_attributes": _static_search_attributes(request),
        }

    async def submit(self, request: OrderRequest) -> str:
        """Start the order (once per client order id) and return its client order id."""
        request = self.prepare(request)
        # A finished order with this id (REJECT_DUPLICATE) is the same order, not a new one.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self.client.start_workflow(OrderWorkflow.run, self._input(request), **self._start_options(request))
        return request.client_order_id or ""

    async def submit_and_wait_for_ack(self, request: OrderRequest, timeout: float = 60.0) -> OrderView:
        """Start the order and return once the broker acknowledged it (update-with-start)."""
        request = self.prepare(request)
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + timeout, 0.2
        while True:
            start = WithStartWorkflowOperation(OrderWorkflow.run, self._input(request),
                                               **self._start_options(request))
            try:
                view: OrderView = await self.client.execute_update_with_start_workflow(
                    OrderWorkflow.wait_for_ack, start_workflow_operation=start,
                    rpc_timeout=timedelta(seconds=max(deadline - loop.time(), 1.0)),
                )
                return view
            except RPCError as exc:
                # The order's workflow exists but its workflow task failed (timed out on a busy worker; the
                # server runs it again): asking again is safe (same workflow id, USE_EXISTING) and soon answered.
                if not _workflow_not_ready(exc) or loop.time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def handle(self, client_order_id: str) -> WorkflowHandle[Any, OrderOutcome]:
        """The workflow handle of an order."""
        return self.client.get_workflow_handle_for(OrderWorkflow.run, order_workflow_id(client_order_id))

    async def _change(self, client_order_id: str, update: Any, arg: Any, update_id: str | None) -> ChangeResult:
        handle = self.handle(client_order_id)
        try:
            result: ChangeResult = await handle.execute_update(
                update, arg, id=update_id or f"chg-{uuid.uuid4().hex}", rpc_timeout=timedelta(seconds=60)
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            raise OrderChangeRejectedError(str(getattr(cause, "message", None) or cause or exc)) from exc
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                # A change that arrives while the order's last workflow task runs is aborted when the workflow
                # closes ("workflow update was aborted by closing workflow"): the order is closed, not unknown.
                if "completed" in exc.message or await _closed(handle):
                    raise OrderChangeRejectedError(f"order {client_order_id} is closed") from exc
                raise OrderNotFoundError(f"no order {client_order_id}") from exc
            raise
        return result

    async def cancel(self, client_order_id: str, reason: str | None = None, update_id: str | None = None
                     ) -> ChangeResult:
        """Cancel; raises OrderChangeRejectedError when the order cannot be canceled."""
        return await self._change(client_order_id, OrderWorkflow.cancel, CancelRequest(reason=reason), update_id)

    async def amend(self, client_order_id: str, amendment: AmendRequest, update_id: str | None = None
                    ) -> ChangeResult:
        """Amend quantity, prices or trail; raises OrderChangeRejectedError when it cannot apply."""
        return await self._change(client_order_id, OrderWorkflow.amend, amendment, update_id)

    async def status(self, client_order_id: str) -> OrderView:
        """The order's current state (from its result once it has finished)."""
        handle = self.handle(client_order_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise OrderNotFoundError(f"no order {client_order_id}") from exc
            raise
        if description.status is WorkflowExecutionStatus.COMPLETED:
            return (await handle.result()).view
        view: OrderView = await handle.query(OrderWorkflow.status)
        return view

    async def executions(self, client_order_id: str) -> list[ExecutionReport]:
        """Every execution recorded for the order."""
        result: list[ExecutionReport] = await self.handle(client_order_id).query(OrderWorkflow.executions)
        return result

    async def wait(self, client_order_id: str, timeout: float | None = None) -> OrderOutcome:
        """Wait for the order's final state."""
        import asyncio

        return await asyncio.wait_for(self.handle(client_order_id).result(), timeout)

    async def list(self, status: str | None = None, limit: int = 50) -> list[OrderSummary]:
        """Recent orders, newest first, optionally with one OrderStatus."""
        query = "WorkflowType = 'OrderWorkflow'"
        if status:
            query += f" AND OrderStatus = '{OrderStatus(status.upper())}'"  # validated: no query injection
        rows: list[OrderSummary] = []
        async for execution in self.client.list_workflows(query, limit=limit):
            attrs = execution.search_attributes
            rows.append({
                "client_order_id": execution.id.removeprefix("order-"),
                "status": (attrs.get("OrderStatus") or ["PENDING_NEW"])[0],
                "symbol": (attrs.get("Symbol") or [""])[0],
                "side": (attrs.get("OrderSide") or [""])[0],
                "type": (attrs.get("OrderType") or [""])[0],
                "workflow": str(execution.status.name if execution.status else ""),
                "started": execution.start_time,
            })
        return rows


def _static_search_attributes(request: OrderRequest) -> TypedSearchAttributes:
    """What never changes, set at start (the workflow upserts only what differs: a routed connection,
    the broker, the status)."""
    pairs = [SearchAttributePair(SYMBOL, request.symbol), SearchAttributePair(ORDER_SIDE, str(request.side)),
             SearchAttributePair(ORDER_TYPE, str(request.order_type))]
    if request.connection_id and not is_smart(request.connection_id):
        pairs.append(SearchAttributePair(CONNECTION_ID, request.connection_id))
    return TypedSearchAttributes(pairs)


async def _closed(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the workflow exists and has closed (False when it cannot be told)."""
    try:
        description = await handle.describe()
    except RPCError:
        return False
    return description.status not in (None, WorkflowExecutionStatus.RUNNING)


def _workflow_not_ready(exc: RPCError) -> bool:
    """Temporal refused an update because the workflow's task is in a failed state (retried by the server)."""
    return "Workflow Task in failed state" in exc.message
