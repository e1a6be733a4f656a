"""Smart order routing end to end: OrderWorkflow on Temporal, PostgreSQL, the Alpaca and Tradier adapters and the
simulator (which serves both protocols). Orders name no connection (or SMART); the router picks one, the
decision is stored with the order, and a connection that cannot give a session is abandoned before anything
is sent to it."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from brokers.registry import GatewayRegistry
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials, Order
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.accounts import sync_connection
from starter.orders import OrderClient
from worker import running_worker


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories

    async def submissions(self, client_order_id: str) -> list[Any]:
        return list((await self.sim.admin.orders())["submissions"].get(client_order_id, []))

    async def stored(self, client_order_id: str) -> Order:
        order = await self.repos.orders.get(client_order_id)
        assert order is not None
        return order


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def add(repos: Repositories, connection: BrokerConnection, credentials: ConnectionCredentials) -> None:
    await repos.connections.save(connection)
    await repos.connections.save_credentials(connection.connection_id, credentials)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    alpaca_keys = ConnectionCredentials(api_key="SIMKEY", api_secret=SecretStr("SIMSECRET"))
    async with running_simulator(autotick=True) as sim:
        await add(repositories, BrokerConnection(connection_id="alpaca-sim", broker="alpaca", base_url=sim.base_url),
                  alpaca_keys)
        await add(repositories, BrokerConnection(connection_id="tradier-sim", broker="tradier",
                                                 auth_method=AuthMethod.OAUTH2, base_url=sim.base_url),
                  ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories)


def request(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"smart-{uuid.uuid4().hex[:12]}")
    fields.setdefault("poll_interval_seconds", 0.3)
    return OrderRequest(**fields)


async def test_smart_orders_go_where_they_fit_and_the_decision_is_stored(stack: Stack) -> None:
    # Tradier takes no fractional quantity: the router sends this one to Alpaca.
    fractional = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity="0.5", connection_id="SMART"))
    outcome = await stack.orders.wait(fractional, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.connection_id == "alpaca-sim"
    route = (await stack.stored(fractional)).route
    assert route is not None and (route.connection_id, route.policy) == ("alpaca-sim", "CHEAPEST")
    assert [v.connection_id for v in route.candidates] == ["alpaca-sim", "tradier-sim"]
    tradier = route.candidates[1]
    assert not tradier.eligible and any("fractional" in r for r in tradier.reasons)
    assert outcome.view.route == route  # the status query shows it too
    assert len(await stack.submissions(fractional)) == 1

    # With the accounts synchronised the router also picks the account, on our ledger's buying power.
    registry = GatewayRegistry(credentials=stack.repos.connections.get_credentials)
    try:
        for cid in ("alpaca-sim", "tradier-sim"):
            assert await sync_connection(stack.repos, registry, cid, datetime.now(UTC))
    finally:
        await registry.aclose()
    preferred = await stack.orders.submit(request(symbol="MSFT", side="BUY", quantity=2, routing="prefer:tradier"))
    outcome = await stack.orders.wait(preferred, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.connection_id == "tradier-sim"
    route = (await stack.stored(preferred)).route
    assert route is not None and route.connection_id == "tradier-sim" and route.policy == "PREFER_BROKER(tradier)"
    alpaca = next(v for v in route.candidates if v.connection_id == "alpaca-sim")
    assert alpaca.eligible and not alpaca.chosen and "not the preferred broker tradier" in alpaca.reasons[-1]
    tradier_accounts = await stack.repos.accounts.list_for_connection("tradier-sim")
    assert route.account_id in {a.account_id for a in tradier_accounts}
    assert (await stack.stored(preferred)).order.account_id == route.account_id

    # More than any account can pay: every account is excluded with the figures, nothing is sent.
    too_big = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=10_000_000, order_type="LIMIT",
                                                limit_price="100"))
    refused = await stack.orders.wait(too_big, timeout=30)
    assert refused.view.status == "REJECTED" and "INSUFFICIENT_BUYING_POWER" in (refused.view.reason or "")
    assert await stack.submissions(too_big) == []

    # A pinned order has no routing decision.
    pinned = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=1, connection_id="alpaca-sim"))
    assert (await stack.orders.wait(pinned, timeout=30)).view.status == "FILLED"
    assert (await stack.stored(pinned)).route is None


async def test_a_failed_connection_is_skipped_and_an_unreachable_one_abandoned_before_submission(
        stack: Stack) -> None:
    now = datetime.now(UTC)
    tripped = BrokerConnection(connection_id="a-failed", broker="alpaca", base_url=stack.sim.base_url)
    tripped.begin_connect(now)
    tripped.record_failure(now, "503 from every endpoint")
    assert tripped.status == "FAILED"
    keys = ConnectionCredentials(api_key="SIMKEY", api_secret=SecretStr("SIMSECRET"))
    await add(stack.repos, tripped, keys)
    # Never connected, so the router may pick it (ties go by id: "a-unreachable" first); its login fails.
    await add(stack.repos, BrokerConnection(connection_id="a-unreachable", broker="alpaca",
                                            base_url=f"http://127.0.0.1:{closed_port()}"), keys)
    cid = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=3))
    outcome = await stack.orders.wait(cid, timeout=60)
    assert outcome.view.status == "FILLED" and outcome.view.connection_id == "alpaca-sim"
    route = (await stack.stored(cid)).route
    assert route is not None and route.abandoned == ("a-unreachable",)
    verdicts = {v.connection_id: v for v in route.candidates}
    assert set(verdicts) == {"a-failed", "a-unreachable", "alpaca-sim", "tradier-sim"}
    assert verdicts["a-failed"].reasons[0].startswith("unhealthy: FAILED")
    assert verdicts["a-unreachable"].reasons[0].startswith("abandoned: session not ready")
    assert verdicts["alpaca-sim"].chosen
    # Sent once, to the second choice only.
    assert len(await stack.submissions(cid)) == 1
    assert (await stack.stored(cid)).order.connection_id == "alpaca-sim"


async def test_when_no_connection_is_left_the_order_is_refused_with_every_reason(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=1, order_type="TRAILING_STOP",
                                            trail_percent="5", time_in_force="GTD",
                                            expire_at=datetime(2030, 1, 1, tzinfo=UTC)))
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "REJECTED"
    reason = outcome.view.reason or ""
    assert "no connection can take the order" in reason
    assert "alpaca-sim" in reason and "tradier-sim" in reason and "GTD" in reason
    assert await stack.submissions(cid) == []
