"""Tradier end to end through the worker against the simulator: option orders, and bracket/OCO groups on the
native path (Tradier's own oco/otoco classes, chosen from the capability `supports_order_classes`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials, OrderGroupRequest
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from worker import running_worker

TRADIER = "tradier-native"
CALL = "AAPL260320C00190000"  # AAPL at 187.50 on 2026-03-02: the model prices it at 5.04 (bid 4.99, ask 5.09)


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories
    client: Client

    async def broker_orders(self) -> list[dict[str, Any]]:
        """Every order of the account through Tradier's own API (a group as one order with its `leg` list)."""
        async with httpx.AsyncClient(
            base_url=self.sim.base_url,
            timeout=10,
            headers={"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"},
        ) as c:
            profile = (await c.get("/v1/user/profile")).json()
            if "profile" not in profile:  # throttled (the workers' polls share the token): ask again later
                return []
            account = profile["profile"]["account"]["account_number"]
            body = (await c.get(f"/v1/accounts/{account}/orders", params={"includeTags": "true"})).json()
        found = body.get("orders", "null")
        if found == "null":
            return []
        return found["order"] if isinstance(found["order"], list) else [found["order"]]

    async def group_at_broker(self, tag: str) -> dict[str, Any] | None:
        return next((o for o in await self.broker_orders() if o.get("tag") == tag), None)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(
            BrokerConnection(
                connection_id=TRADIER, broker="tradier", auth_method=AuthMethod.OAUTH2, base_url=sim.base_url
            )
        )
        await repositories.connections.save_credentials(
            TRADIER, ConnectionCredentials(access_token=SecretStr("SIMTOKEN"))
        )
        for symbol, price in (("MSFT", 410), ("AAPL", 187.5)):
            await sim.admin.set_price(symbol, price, volatility=0)
        yield Stack(sim, OrderClient(temporal_env.client, "unused"), repositories, temporal_env.client)


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.5)):
        if await predicate():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def filled_order(orders: OrderClient, **fields: Any) -> None:
    cid = await orders.submit(
        OrderRequest(
            client_order_id=f"t-{uuid.uuid4().hex[:10]}", connection_id=TRADIER, poll_interval_seconds=0.3, **fields
        )
    )
    result = await orders.wait(cid, timeout=30)
    assert result.view.status == "FILLED", result.view


async def test_option_orders_open_and_close_through_the_worker(stack: Stack, task_queue: str) -> None:
    orders = OrderClient(stack.client, task_queue)
    async with running_worker(stack.client, stack.repos, task_queue):
        await filled_order(orders, symbol=CALL, asset_class="OPTION", side="BUY", quantity=2)
        await filled_order(orders, symbol=CALL, asset_class="OPTION", side="SELL", quantity=2)
    placed = sorted(
        (o["side"], o["class"], o["option_symbol"], o["status"])
        for o in await stack.broker_orders()
        if o.get("option_symbol") == CALL
    )
    assert placed == [("buy_to_open", "option", CALL, "filled"), ("sell_to_close", "option", CALL, "filled")]


async def test_native_oco_needs_the_position_of_one_exit_only(stack: Stack, task_queue: str) -> None:
    """The emulated OCO's limit: two open sells of 10 against a position of 10. Tradier's oco holds both."""
    orders = OrderClient(stack.client, task_queue)
    gid = f"noco-{uuid.uuid4().hex[:8]}"
    legs = [
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": "420",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": 10,
            "order_type": "STOP",
            "stop_price": "400",
            "time_in_force": "GTC",
        },
    ]
    group = OrderGroupRequest(group_id=gid, kind="OCO", symbol="MSFT", legs=legs, connection_id=TRADIER)
    async with running_worker(stack.client, stack.repos, task_queue):
        await filled_order(orders, symbol="MSFT", side="BUY", quantity=10)

        async def both_working() -> bool:
            found = await stack.group_at_broker(f"{gid}-tp")
            return found is not None and [leg["status"] for leg in found["leg"]] == ["open", "open"]

        await orders.submit_group(group, poll_interval_seconds=0.3)
        await eventually(both_working, 30, "both legs working at Tradier")
        await stack.sim.admin.set_price("MSFT", 421, volatility=0)  # the take-profit trades
        view = await orders.wait_group(gid, timeout=60)
    assert view.status == "COMPLETED" and view.path == "NATIVE" and not view.both_exits_filled
    by_role = {str(leg.role): leg for leg in view.legs}
    assert (str(by_role["TAKE_PROFIT"].status), str(by_role["STOP_LOSS"].status)) == ("FILLED", "CANCELED")
    parent = await stack.group_at_broker(f"{gid}-tp")
    assert parent is not None and parent["class"] == "oco"
    assert [(leg["type"], leg["status"], leg["exec_quantity"]) for leg in parent["leg"]] == [
        ("limit", "filled", 10.0),
        ("stop", "canceled", 0.0),
    ]
    assert sum(e.quantity for e in await stack.repos.executions.list_for_order(f"{gid}-tp")) == 10
    assert await stack.repos.executions.list_for_order(f"{gid}-sl") == []
    history = [u.status for u in await stack.repos.statuses.history(f"{gid}-sl")]
    assert history[0] == "SUBMITTED" and history[-1] == "CANCELED"


async def test_native_option_bracket_then_a_group_cancel(stack: Stack, task_queue: str) -> None:
    orders = OrderClient(stack.client, task_queue)
    gid = f"nbr-{uuid.uuid4().hex[:8]}"
    legs = [
        {
            "role": "ENTRY",
            "side": "BUY",
            "quantity": 3,
            "order_type": "LIMIT",
            "limit_price": "5.10",
            "time_in_force": "GTC",
        },
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 3,
            "order_type": "LIMIT",
            "limit_price": "9",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": 3,
            "order_type": "STOP",
            "stop_price": "2",
            "time_in_force": "GTC",
        },
    ]
    group = OrderGroupRequest(
        group_id=gid, kind="BRACKET", symbol=CALL, asset_class="OPTION", legs=legs, connection_id=TRADIER
    )
    async with running_worker(stack.client, stack.repos, task_queue):
        await orders.submit_group(group, poll_interval_seconds=0.3)

        async def exits_working() -> bool:
            view = await orders.group_status(gid)
            return [str(leg.status) for leg in view.legs] == ["FILLED", "WORKING", "WORKING"]

        await eventually(exits_working, 30, "the entry filled and the exits working")
        await orders.cancel_group(gid, "test over")
        view = await orders.wait_group(gid, timeout=60)
    assert view.status == "CANCELLED" and view.path == "NATIVE"
    assert [str(leg.status) for leg in view.legs] == ["FILLED", "CANCELED", "CANCELED"]
    parent = await stack.group_at_broker(f"{gid}-en")
    assert parent is not None and parent["class"] == "otoco"
    assert [(leg["side"], leg["option_symbol"], leg["status"]) for leg in parent["leg"]] == [
        ("buy_to_open", CALL, "filled"),
        ("sell_to_close", CALL, "canceled"),
        ("sell_to_close", CALL, "canceled"),
    ]
    fills = await stack.repos.executions.list_for_order(f"{gid}-en")
    assert [(e.symbol, e.quantity, e.price) for e in fills] == [(CALL, Decimal(3), Decimal("5.09"))]
