"""Hostile input never becomes a database row or a stuck workflow.

A hostile order is refused by the client (nothing started), or REJECTED by the workflow unstored when a
caller skips the client's checks, or fails its workflow with a typed error when it cannot even be read;
hostile updates are refused and hostile signals dropped while the order keeps working.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials, InvalidOrderError
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from worker import running_worker


@dataclass
class Stack:
    env: WorkflowEnvironment
    repos: Repositories
    sim: SimulatorHandle
    orders: OrderClient
    task_queue: str

    async def rows(self) -> dict[str, int]:
        assert self.repos.engine is not None
        async with self.repos.engine.connect() as conn:
            return {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                    for t in ("orders", "order_status_history", "execution_reports")}

    async def broker_submissions(self) -> int:
        return sum(len(v) for v in (await self.sim.admin.orders())["submissions"].values())


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim, running_worker(temporal_env.client, repositories,
                                                                       task_queue):
        await repositories.connections.save(BrokerConnection(connection_id="sim", broker="alpaca",
                                                             base_url=sim.base_url))
        await repositories.connections.save_credentials("sim", ConnectionCredentials(api_key="SIMKEY",
                                                                                      api_secret="SIMSECRET"))
        yield Stack(temporal_env, repositories, sim, OrderClient(temporal_env.client, task_queue), task_queue)


HOSTILE = [
    {"quantity": Decimal("-5")},
    {"quantity": Decimal("1e999999")},
    {"order_type": "LIMIT"},  # no limit price
    {"order_type": "MARKET", "limit_price": Decimal("150")},
    {"client_order_id": "bad id~with tilde"},
]


@pytest.mark.parametrize("change", HOSTILE)
async def test_the_client_refuses_and_starts_nothing(stack: Stack, change: dict[str, object]) -> None:
    request = OrderRequest(**{"client_order_id": f"hostile-{uuid.uuid4().hex[:8]}", "symbol": "AAPL",
                              "side": "BUY", "quantity": Decimal("1"), "connection_id": "sim"} | change)
    with pytest.raises(InvalidOrderError):
        await stack.orders.submit(request)
    with pytest.raises(RPCError) as missing:
        await stack.orders.handle(request.client_order_id or "").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND
    assert await stack.rows() == {"orders": 0, "order_status_history": 0, "execution_reports": 0}


async def test_a_caller_that_skips_the_checks_gets_rejected_unstored(stack: Stack) -> None:
    cid = f"raw-{uuid.uuid4().hex[:8]}"
    # What another language's client could send: the raw JSON, no checks on our side of the wire.
    handle = await stack.env.client.start_workflow(
        "OrderWorkflow", {"client_order_id": cid, "symbol": "AAPL", "side": "BUY", "quantity": "-5",
                          "order_type": "LIMIT", "connection_id": "sim"},
        id=f"order-{cid}", task_queue=stack.task_queue, id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome["view"]["status"] == "REJECTED" and "quantity" in outcome["view"]["reason"]
    assert await stack.rows() == {"orders": 0, "order_status_history": 0, "execution_reports": 0}
    assert await stack.broker_submissions() == 0


async def test_undecodable_input_fails_the_workflow_with_a_typed_error(stack: Stack) -> None:
    cid = f"nan-{uuid.uuid4().hex[:8]}"
    handle = await stack.env.client.start_workflow(
        "OrderWorkflow", {"client_order_id": cid, "symbol": "AAPL", "side": "BUY", "quantity": "NaN"},
        id=f"order-{cid}", task_queue=stack.task_queue)
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 30)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidOrderRequest" and cause.non_retryable
    assert "quantity" in cause.message
    assert await stack.rows() == {"orders": 0, "order_status_history": 0, "execution_reports": 0}


async def test_hostile_updates_and_signals_leave_a_working_order_working(stack: Stack) -> None:
    cid = await stack.orders.submit(OrderRequest(client_order_id=f"work-{uuid.uuid4().hex[:8]}", symbol="SPY",
                                                 side="BUY", quantity=Decimal("5"), order_type="LIMIT",
                                                 limit_price=Decimal("1.00"), connection_id="sim"))
    handle = stack.env.client.get_workflow_handle(f"order-{cid}")

    async def status() -> str:
        return str((await handle.query("status"))["status"])

    for _ in range(150):
        if await status() == "ACCEPTED":
            break
        await asyncio.sleep(0.2)
    assert await status() == "ACCEPTED"
    before = await stack.rows()
    for amend in ({"quantity": "NaN"}, {"limit_price": "-1"}, {"quantity": "1e999999"}, {"bogus": [1, 2]}, "junk"):
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update("amend", amend)
    await handle.signal("trade_event", {"kind": "FILL", "order": "not an order"})  # dropped by the SDK
    await handle.signal("trade_event", "junk")
    await asyncio.sleep(1.0)
    assert await status() == "ACCEPTED" and await stack.rows() == before
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert (await stack.orders.cancel(cid)).accepted  # the workflow still answers: no task is stuck
