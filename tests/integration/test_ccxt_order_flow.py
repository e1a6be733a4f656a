"""Crypto orders end to end through ccxt: OrderWorkflow on Temporal, PostgreSQL, the ccxt adapter (the real
ccxt `binance` class) and the simulator's Binance spot front end over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from worker import running_worker

CONN = "ccxt-sim"
KEY, SECRET = "BINANCEKEY", "BINANCESECRET"


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories

    async def binance(self, path: str, **params: Any) -> Any:
        """The exchange's own answer, through a signed Binance request of our own."""
        query = urlencode({**params, "timestamp": int(time.time() * 1000)})
        signature = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(base_url=self.sim.base_url, headers={"X-MBX-APIKEY": KEY}, timeout=10) as c:
            answer = await c.get(f"{path}?{query}&signature={signature}")
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="ccxt",
                                                             auth_method=AuthMethod.API_KEY, base_url=sim.base_url))
        await repositories.connections.save_credentials(
            CONN, ConnectionCredentials(api_key=KEY, api_secret=SecretStr(SECRET)))
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories)


def request(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"ccx-{uuid.uuid4().hex[:12]}")
    fields.setdefault("connection_id", CONN)
    fields.setdefault("poll_interval_seconds", 0.3)
    fields.setdefault("asset_class", "CRYPTO")
    fields.setdefault("time_in_force", "GTC")
    return OrderRequest(**fields)


async def until_status(stack: Stack, cid: str, *statuses: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if (await stack.orders.status(cid)).status in statuses:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} never reached {statuses}: {(await stack.orders.status(cid)).status}")


async def test_market_buy_fills_and_the_execution_keeps_eight_decimals(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="BTC/USDT", side="BUY", quantity=Decimal("0.015")))
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == Decimal("0.015")
    broker = await stack.binance("/api/v3/order", symbol="BTCUSDT", origClientOrderId=cid)
    assert (broker["status"], broker["executedQty"], broker["clientOrderId"]) == ("FILLED", "0.01500000", cid)
    (trade,) = await stack.binance("/api/v3/myTrades", symbol="BTCUSDT", orderId=broker["orderId"])
    (execution,) = await stack.repos.executions.list_for_order(cid)
    assert execution.execution_id == f"{trade['id']}@BTC/USDT"
    assert execution.quantity == Decimal(trade["qty"]) == Decimal("0.01500000")
    assert execution.price == Decimal(trade["price"])  # 8 decimal places, no float on the way
    assert f"{execution.quantity:f}".rstrip("0") == "0.015"
    stored = await stack.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED"
    assert stored.broker_order_id == f"{broker['orderId']}@BTC/USDT"
    assert stored.filled_quantity == Decimal("0.015")


async def test_limit_order_rests_then_is_cancelled(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="BTC/USDT", side="BUY", quantity=Decimal("0.01"),
                                            order_type="LIMIT", limit_price="50000"))
    await until_status(stack, cid, "ACCEPTED")
    (working,) = [o for o in await stack.binance("/api/v3/openOrders", symbol="BTCUSDT")
                  if o["clientOrderId"] == cid]
    assert (working["status"], working["price"], working["origQty"]) == ("NEW", "50000.00000000", "0.01000000")
    assert (await stack.orders.cancel(cid, reason="test")).accepted
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "CANCELED"
    broker = await stack.binance("/api/v3/order", symbol="BTCUSDT", origClientOrderId=cid)
    assert broker["status"] == "CANCELED" and broker["executedQty"] == "0.00000000"
    assert await stack.repos.executions.list_for_order(cid) == []


async def test_a_sell_beyond_the_holding_is_refused_before_the_exchange(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="BTC/USDT", side="SELL", quantity=Decimal("3")))
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "REJECTED", outcome.view  # 2 BTC held, no shorting on a spot account
    assert "INSUFFICIENT_POSITION" in (outcome.view.reason or "")
    assert (await stack.sim.admin.orders())["submissions"].get(cid) is None
    sold = await stack.orders.submit(request(symbol="BTC/USDT", side="SELL", quantity=Decimal("0.5")))
    assert (await stack.orders.wait(sold, timeout=30)).view.status == "FILLED"
    balances = {b["asset"]: b for b in (await stack.binance("/api/v3/account"))["balances"]}
    assert Decimal(balances["BTC"]["free"]) == Decimal("1.5")
