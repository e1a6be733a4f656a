"""Bracket/OCO groups end to end against the simulator: Tradier emulated (child orders coupled by the group
workflow, including a worker crash between one leg's fill and the other's cancel) and Alpaca native (order class).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.group_activities import GroupActivities
from activities.group_models import GroupPath
from activities.models import CancelInput, OrderRequest
from activities.order_activities import OrderActivities
from activities.sessions import SessionPool
from brokers.registry import GatewayRegistry, SystemClock
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials, OrderGroupRequest
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from tests.integration.test_cli import CliStack
from worker import _workflows, running_worker

TRADIER = "tradier-grp"
ALPACA = "alpaca-grp"


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories
    client: Client

    async def tradier_orders(self, tag: str) -> list[dict[str, Any]]:
        """The broker's own answer, through Tradier's API: every order carrying the tag."""
        async with httpx.AsyncClient(base_url=self.sim.base_url, timeout=10,
                                     headers={"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}) as c:
            profile = (await c.get("/v1/user/profile")).json()
            if "profile" not in profile:  # throttled (the workers' polls share the token): ask again later
                return []
            account = profile["profile"]["account"]["account_number"]
            body = (await c.get(f"/v1/accounts/{account}/orders", params={"includeTags": "true"})).json()
        if "orders" not in body:  # throttled: ask again on the next round
            return []
        found = body["orders"] if body["orders"] != "null" else {"order": []}
        listed = found["order"] if isinstance(found["order"], list) else [found["order"]]
        return [o for o in listed if o.get("tag") == tag]


@pytest_asyncio.fixture(loop_scope="session")
async def sim_stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                    ) -> AsyncIterator[Stack]:
    """The simulator with a Tradier connection; workers are started by each test."""
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(
            connection_id=TRADIER, broker="tradier", auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials(TRADIER,
                                                        ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
        await repositories.connections.save(BrokerConnection(connection_id=ALPACA, broker="alpaca",
                                                             base_url=sim.base_url))
        await repositories.connections.save_credentials(ALPACA, ConnectionCredentials(
            api_key="SIMKEY", api_secret=SecretStr("SIMSECRET")))
        await sim.admin.set_price("MSFT", 410, volatility=0)
        await sim.admin.set_price("AAPL", 187.5, volatility=0)
        yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories, temporal_env.client)


async def buy_position(stack: Stack, symbol: str, quantity: int, connection_id: str) -> None:
    cid = await stack.orders.submit(OrderRequest(client_order_id=f"pos-{uuid.uuid4().hex[:10]}", symbol=symbol,
                                                 side="BUY", quantity=quantity, connection_id=connection_id,
                                                 poll_interval_seconds=0.3))
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "FILLED"


def oco(gid: str, connection_id: str, tp: str = "420", sl: str = "400") -> OrderGroupRequest:
    legs = [{"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": tp,
             "time_in_force": "GTC"},
            {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP", "stop_price": sl,
             "time_in_force": "GTC"}]
    return OrderGroupRequest(group_id=gid, kind="OCO", symbol="MSFT", legs=legs, connection_id=connection_id)


async def eventually(predicate: Any, timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.5)):
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def test_tradier_oco_fill_cancels_the_other_leg_at_the_broker(sim_stack: Stack, task_queue: str) -> None:
    stack = sim_stack
    async with running_worker(stack.client, stack.repos, task_queue):
        await buy_position(stack, "MSFT", 20, TRADIER)
        gid = f"oco-{uuid.uuid4().hex[:8]}"
        await stack.orders.submit_group(oco(gid, TRADIER), poll_interval_seconds=0.3, path=GroupPath.EMULATED)
        await eventually(lambda: _open_at_tradier(stack, f"{gid}-sl"), 30, "both legs at the broker")
        await eventually(lambda: _open_at_tradier(stack, f"{gid}-tp"), 30, "both legs at the broker")
        await stack.sim.admin.set_price("MSFT", 421, volatility=0)  # the take-profit trades
        view = await stack.orders.wait_group(gid, timeout=60)
    assert view.status == "COMPLETED" and view.path == "EMULATED" and not view.both_exits_filled
    (tp,) = await stack.tradier_orders(f"{gid}-tp")
    (sl,) = await stack.tradier_orders(f"{gid}-sl")
    assert tp["status"] == "filled" and tp["exec_quantity"] == 10.0
    assert sl["status"] == "canceled" and sl["exec_quantity"] == 0.0
    assert sum(e.quantity for e in await stack.repos.executions.list_for_order(f"{gid}-tp")) == 10
    assert await stack.repos.executions.list_for_order(f"{gid}-sl") == []
    stored = await stack.repos.orders.get(f"{gid}-sl")
    assert stored is not None and stored.status == "CANCELED"


async def test_worker_crash_between_a_fill_and_the_siblings_cancel(sim_stack: Stack, task_queue: str) -> None:
    """The first worker dies once the fill is recorded and the group has asked for the sibling's cancel, before
    the broker saw the cancel; a new worker finishes it from the histories: the sibling ends canceled, unfilled."""
    stack = sim_stack
    async with running_worker(stack.client, stack.repos, task_queue):
        await buy_position(stack, "MSFT", 20, TRADIER)
    gid = f"crash-{uuid.uuid4().hex[:8]}"
    reached = asyncio.Event()

    @activity.defn(name="cancel_order")
    async def cancel_order_then_crash(request: CancelInput) -> None:
        reached.set()  # the worker "dies" here: the cancel never reaches the broker
        await asyncio.Event().wait()

    registry = GatewayRegistry(credentials=stack.repos.connections.get_credentials)
    sessions = SessionPool(stack.repos.connections, registry, SystemClock())
    orders = [m for m in OrderActivities(stack.repos, sessions).methods() if m.__name__ != "cancel_order"]
    first = Worker(stack.client, task_queue=task_queue, workflows=_workflows(),
                   activities=[*orders, cancel_order_then_crash, *GroupActivities(stack.repos, sessions).methods()],
                   graceful_shutdown_timeout=timedelta(seconds=0.5))
    async with first:
        await stack.orders.submit_group(oco(gid, TRADIER), poll_interval_seconds=0.3, path=GroupPath.EMULATED)
        await eventually(lambda: _open_at_tradier(stack, f"{gid}-sl"), 30, "both legs at the broker")
        await eventually(lambda: _open_at_tradier(stack, f"{gid}-tp"), 30, "both legs at the broker")
        await stack.sim.admin.set_price("MSFT", 421, volatility=0)
        await asyncio.wait_for(reached.wait(), 60)
        fills = await stack.repos.executions.list_for_order(f"{gid}-tp")
        assert sum(e.quantity for e in fills) == 10, "the fill is recorded before the sibling's cancel"
        (sl,) = await stack.tradier_orders(f"{gid}-sl")
        assert sl["status"] == "open", "the broker has not seen the cancel"
    await sessions.close()
    await registry.aclose()
    assert (await stack.orders.group_handle(gid).describe()).status is WorkflowExecutionStatus.RUNNING
    async with running_worker(stack.client, stack.repos, task_queue):  # a new worker replays and goes on
        view = await stack.orders.wait_group(gid, timeout=90)
    assert view.status == "COMPLETED" and not view.both_exits_filled
    (tp,) = await stack.tradier_orders(f"{gid}-tp")
    (sl,) = await stack.tradier_orders(f"{gid}-sl")
    assert (tp["status"], sl["status"]) == ("filled", "canceled")
    assert sl["exec_quantity"] == 0.0, "the broker never had both legs filled"
    legs = {str(leg.role): leg for leg in view.legs}
    assert str(legs["STOP_LOSS"].status) == "CANCELED" and legs["TAKE_PROFIT"].filled_quantity == Decimal(10)


async def _open_at_tradier(stack: Stack, tag: str) -> bool:
    found = await stack.tradier_orders(tag)
    return bool(found) and found[0]["status"] == "open"


async def test_alpaca_native_bracket_entry_then_take_profit_and_the_stop_is_canceled_at_the_broker(
        sim_stack: Stack, task_queue: str) -> None:
    stack = sim_stack
    gid = f"nat-{uuid.uuid4().hex[:8]}"
    legs = [{"role": "ENTRY", "side": "BUY", "quantity": 10, "order_type": "MARKET"},
            {"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": "195"},
            {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP", "stop_price": "180"}]
    group = OrderGroupRequest(group_id=gid, kind="BRACKET", symbol="AAPL", legs=legs, connection_id=ALPACA)
    async with running_worker(stack.client, stack.repos, task_queue):
        await stack.orders.submit_group(group, poll_interval_seconds=0.3)

        async def exits_working() -> bool:
            view = await stack.orders.group_status(gid)
            return [str(leg.status) for leg in view.legs] == ["FILLED", "WORKING", "WORKING"]

        await eventually(exits_working, 30, "the entry filled and the exits working")
        await stack.sim.admin.set_price("AAPL", 196, volatility=0)  # the take-profit trades
        view = await stack.orders.wait_group(gid, timeout=60)
    assert view.status == "COMPLETED" and view.path == "NATIVE" and not view.both_exits_filled
    legs_by_role = {str(leg.role): leg for leg in view.legs}
    assert str(legs_by_role["TAKE_PROFIT"].status) == "FILLED" and str(legs_by_role["STOP_LOSS"].status) == "CANCELED"
    async with httpx.AsyncClient(base_url=stack.sim.base_url, headers=stack.sim.headers("ACC1"), timeout=10) as c:
        parent = (await c.get("/v2/orders:by_client_order_id", params={"client_order_id": f"{gid}-en"})).json()
        nested = (await c.get(f"/v2/orders/{parent['id']}", params={"nested": "true"})).json()
    assert nested["order_class"] == "bracket" and nested["status"] == "filled"
    assert sorted((leg["type"], leg["status"], leg["filled_qty"]) for leg in nested["legs"]) == [
        ("limit", "filled", "10"), ("stop", "canceled", "0")]
    for role, filled in (("en", 10), ("tp", 10), ("sl", 0)):
        executions = await stack.repos.executions.list_for_order(f"{gid}-{role}")
        assert sum(e.quantity for e in executions) == filled, role
    history = [u.status for u in await stack.repos.statuses.history(f"{gid}-sl")]
    assert history[0] == "SUBMITTED" and history[-1] == "CANCELED"


async def test_cli_submits_shows_and_cancels_a_native_bracket(stack: CliStack) -> None:
    await stack.repos.connections.save(BrokerConnection(connection_id=ALPACA, broker="alpaca",
                                                        base_url=stack.sim.base_url))
    await stack.repos.connections.save_credentials(ALPACA, ConnectionCredentials(
        api_key="SIMKEY", api_secret=SecretStr("SIMSECRET")))
    gid = f"cli-{uuid.uuid4().hex[:8]}"
    submitted = await stack.run("order", "group", "submit", "--kind", "bracket", "--symbol", "SPY", "--side", "buy",
                                "--qty", "5", "--entry-type", "limit", "--entry-limit", "1.00", "--take-profit", "2",
                                "--stop-loss", "0.50", "--tif", "gtc", "--connection", ALPACA, "--group-id", gid,
                                "--json")
    assert submitted.code == 0, submitted.err
    view = submitted.json()
    assert view["group_id"] == gid and view["kind"] == "BRACKET" and view["status"] in ("PENDING", "ACTIVE")

    async def placed() -> bool:
        shown = (await stack.run("order", "group", "status", gid, "--json")).json()
        return shown["path"] == "NATIVE" and shown["legs"][0]["broker_order_id"] is not None

    await eventually(placed, 60, "the bracket at the broker")
    table = await stack.run("order", "group", "status", gid)
    assert table.code == 0 and "TAKE_PROFIT" in table.out and "HELD" in table.out, table.out
    canceled = await stack.run("order", "group", "cancel", gid, "--reason", "cli test", "--json")
    assert canceled.code == 0, canceled.err

    async def ended() -> bool:
        return (await stack.run("order", "group", "status", gid, "--json")).json()["status"] == "CANCELLED"

    await eventually(ended, 60, "the group canceled")
    orders = await stack.broker_orders(f"{gid}-en")
    assert [o["status"] for o in orders] == ["canceled"]
    bad = await stack.run("order", "group", "submit", "--kind", "oco", "--symbol", "SPY", "--side", "sell",
                          "--qty", "5", "--take-profit", "1", "--stop-loss", "2", "--connection", ALPACA)
    assert bad.code == 2 and "legs.TAKE_PROFIT.limit_price" in bad.err
