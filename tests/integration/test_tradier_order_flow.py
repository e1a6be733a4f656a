"""Orders end to end on Tradier: OrderWorkflow on Temporal, PostgreSQL, the Tradier adapter and the simulator's
Tradier front end over HTTP; and `brokerflow connection add --broker tradier` as a subprocess.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.models import AmendRequest, OrderRequest
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from tests.integration.test_cli import CliStack, cli_env
from worker import running_worker

CONN = "tradier-sim"


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories

    async def tradier_orders(self, tag: str) -> list[dict[str, Any]]:
        """The broker's own answer, through Tradier's API: every order carrying the tag."""
        async with httpx.AsyncClient(base_url=self.sim.base_url, timeout=10,
                                     headers={"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}) as c:
            account = (await c.get("/v1/user/profile")).json()["profile"]["account"]["account_number"]
            body = (await c.get(f"/v1/accounts/{account}/orders", params={"includeTags": "true"})).json()
        found = body["orders"] if body["orders"] != "null" else {"order": []}
        listed = found["order"] if isinstance(found["order"], list) else [found["order"]]
        return [o for o in listed if o.get("tag") == tag]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="tradier",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials(CONN, ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories)


def request(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"trd-{uuid.uuid4().hex[:12]}")
    fields.setdefault("connection_id", CONN)
    fields.setdefault("poll_interval_seconds", 0.3)
    return OrderRequest(**fields)


async def until_status(stack: Stack, cid: str, *statuses: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if (await stack.orders.status(cid)).status in statuses:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} never reached {statuses}: {(await stack.orders.status(cid)).status}")


async def test_market_order_fills_once_and_everything_agrees(stack: Stack) -> None:
    await stack.sim.admin.set_liquidity("MSFT", 3)
    req = request(symbol="MSFT", side="BUY", quantity=10)
    cid = await stack.orders.submit(req)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    (broker,) = await stack.tradier_orders(cid)  # one order at the broker, tagged with the client order id
    assert broker["status"] == "filled" and broker["exec_quantity"] == 10.0
    assert abs(outcome.view.avg_fill_price - Decimal(repr(broker["avg_fill_price"]))) < Decimal("0.0001")
    executions = await stack.repos.executions.list_for_order(cid)
    assert len(executions) >= 2 and sum(e.quantity for e in executions) == Decimal(10)
    assert len({e.execution_id for e in executions}) == len(executions)
    stored = await stack.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED" and stored.broker_order_id == str(broker["id"])


async def test_amend_in_place_then_cancel(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="SPY", side="BUY", quantity=5, order_type="LIMIT",
                                            limit_price="1.00", time_in_force="GTC"))
    await until_status(stack, cid, "ACCEPTED")
    before = (await stack.orders.status(cid)).broker_order_id
    amended = await stack.orders.amend(cid, AmendRequest(limit_price=Decimal("1.05")))
    assert amended.accepted and amended.broker_order_id == before, "Tradier modifies the order in place"
    (broker,) = await stack.tradier_orders(cid)
    assert (str(broker["id"]), broker["price"], broker["quantity"]) == (before, 1.05, 5.0)
    refused = await stack.orders.amend(cid, AmendRequest(quantity=Decimal("4")))
    assert not refused.accepted and "cannot change an order's quantity" in (refused.message or ""), refused.message
    assert (await stack.orders.status(cid)).status == "ACCEPTED"
    assert (await stack.orders.cancel(cid, reason="test")).accepted
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "CANCELED"
    assert [o["status"] for o in await stack.tradier_orders(cid)] == ["canceled"]


async def test_connection_add_for_tradier(temporal_env: WorkflowEnvironment, database_url: str,
                                          repositories: Repositories, task_queue: str, credentials_key: str,
                                          tmp_path: Path) -> None:
    async with running_simulator() as sim:
        cli = CliStack(sim, repositories, cli_env(temporal_env, database_url, task_queue, credentials_key, tmp_path))
        added = await cli.run("connection", "add", "tradier-cli", "--broker", "tradier", "--base-url", sim.base_url,
                              "--verify", "--json", TRADIER_ACCESS_TOKEN="SIMTOKEN")
        assert added.code == 0, added.err
        record = added.json()
        assert record["broker"] == "tradier" and record["auth_method"] == "OAUTH2" and record["verified"] is True
        assert sim.runtime is not None
        assert record["accounts"] == [sim.runtime.exchange.state.accounts["ACC1"].number]
        assert "SIMTOKEN" not in added.out
        keyed = await cli.run("connection", "add", "tradier-key", "--broker", "tradier", "--auth", "api-key",
                              "--base-url", sim.base_url, TRADIER_ACCESS_TOKEN="SIMTOKEN")
        assert keyed.code == 2 and "OAuth access token" in keyed.err
    stored = await repositories.connections.get_credentials("tradier-cli")
    assert stored is not None and stored.secret_values()["access_token"] == "SIMTOKEN"
