"""Forex orders end to end on OANDA: OrderWorkflow on Temporal, PostgreSQL, the OANDA adapter and the simulator's
OANDA v20 front end over HTTP (signed units, string decimals, the transaction stream)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import AssetClass, AuthMethod, BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from worker import running_worker

CONN = "oanda-sim"
ACCOUNT = "101-001-1000001-001"


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories

    async def oanda_order(self, client_order_id: str) -> dict[str, Any]:
        """The broker's own answer, through OANDA's API: the order carrying the client id."""
        async with httpx.AsyncClient(base_url=self.sim.base_url, timeout=10,
                                     headers={"Authorization": "Bearer OANDATOKEN"}) as c:
            answer = await c.get(f"/v3/accounts/{ACCOUNT}/orders/@{client_order_id}")
        assert answer.status_code == 200, answer.text
        return answer.json()["order"]  # type: ignore[no-any-return]

    async def fills(self, order_id: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.sim.base_url, timeout=10,
                                     headers={"Authorization": "Bearer OANDATOKEN"}) as c:
            answer = await c.get(f"/v3/accounts/{ACCOUNT}/transactions/sinceid", params={"id": "0"})
        return [t for t in answer.json()["transactions"] if t["type"] == "ORDER_FILL" and t["orderID"] == order_id]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="oanda",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        credentials = ConnectionCredentials(access_token=SecretStr("OANDATOKEN"))
        await repositories.connections.save_credentials(CONN, credentials)
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories)


def request(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"fx-{uuid.uuid4().hex[:12]}")
    fields.setdefault("connection_id", CONN)
    fields.setdefault("asset_class", "FOREX")
    fields.setdefault("poll_interval_seconds", 0.3)
    return OrderRequest(**fields)


async def until_status(stack: Stack, cid: str, *statuses: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if (await stack.orders.status(cid)).status in statuses:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} never reached {statuses}: {(await stack.orders.status(cid)).status}")


async def test_market_order_fills_and_the_execution_is_recorded(stack: Stack) -> None:
    req = request(symbol="EUR/USD", side="BUY", quantity=10000, time_in_force="FOK")
    cid = await stack.orders.submit(req)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10000
    broker = await stack.oanda_order(cid)  # one order at the broker, carrying the client order id
    assert (broker["state"], broker["instrument"], broker["units"]) == ("FILLED", "EUR_USD", "10000")
    (fill,) = await stack.fills(broker["id"])
    executions = await stack.repos.executions.list_for_order(cid)
    assert len(executions) == 1
    (execution,) = executions
    assert execution.quantity == Decimal("10000") and isinstance(execution.quantity, Decimal)
    assert execution.price == Decimal(fill["price"]) and execution.symbol == "EUR/USD"
    assert execution.execution_id == f"{ACCOUNT}:{fill['id']}"
    assert outcome.view.avg_fill_price == Decimal(fill["price"])
    stored = await stack.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED" and stored.broker_order_id == broker["id"]
    assert stored.order.asset_class is AssetClass.FOREX and stored.order.symbol == "EUR/USD"


async def test_limit_order_rests_then_is_cancelled(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="USD/JPY", side="SELL_SHORT", quantity=5000, order_type="LIMIT",
                                            limit_price="190.125", time_in_force="GTC"))
    await until_status(stack, cid, "ACCEPTED")
    broker = await stack.oanda_order(cid)
    assert (broker["state"], broker["units"], broker["price"]) == ("PENDING", "-5000", "190.125")
    assert (await stack.orders.cancel(cid, reason="test")).accepted
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "CANCELED"
    assert (await stack.oanda_order(cid))["state"] == "CANCELLED"
    assert await stack.repos.executions.list_for_order(cid) == []
