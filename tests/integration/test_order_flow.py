"""Orders end to end: OrderWorkflow on Temporal, PostgreSQL, the Alpaca adapter and the simulator over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.models import AmendRequest, OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials, InvalidOrderError
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderChangeRejectedError, OrderClient
from worker import running_worker


@dataclass
class Stack:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories

    async def broker_orders(self, client_order_id: str) -> list[dict[str, Any]]:
        view = await self.sim.admin.orders()
        return [o for o in view["orders"] if o["client_order_id"].split("~")[0] == client_order_id]

    async def submissions(self, client_order_id: str) -> list[Any]:
        view = await self.sim.admin.orders()
        return list(view["submissions"].get(client_order_id, []))


async def register(repos: Repositories, connection_id: str, base_url: str, key: str, secret: str) -> None:
    await repos.connections.save(BrokerConnection(connection_id=connection_id, broker="alpaca", base_url=base_url))
    await repos.connections.save_credentials(connection_id, ConnectionCredentials(api_key=key, api_secret=secret))


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await register(repositories, "alpaca-sim", sim.base_url, "SIMKEY", "SIMSECRET")
        await register(repositories, "alpaca-cash", sim.base_url, "SIMKEY2", "SIMSECRET2")
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Stack(sim, OrderClient(temporal_env.client, task_queue), repositories)


def request(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"it-{uuid.uuid4().hex[:12]}")
    fields.setdefault("connection_id", "alpaca-sim")
    fields.setdefault("poll_interval_seconds", 0.3)
    return OrderRequest(**fields)


async def until_status(stack: Stack, cid: str, *statuses: str, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.1)):
        if (await stack.orders.status(cid)).status in statuses:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{cid} never reached {statuses}: {(await stack.orders.status(cid)).status}")


async def assert_db_matches_broker(stack: Stack, cid: str) -> None:
    stored = await stack.repos.orders.get(cid)
    assert stored is not None
    executions = await stack.repos.executions.list_for_order(cid)
    assert len({e.execution_id for e in executions}) == len(executions)
    assert sum((e.quantity for e in executions), Decimal(0)) == stored.filled_quantity
    broker = await stack.broker_orders(cid)
    assert sum((Decimal(o["filled_qty"]) for o in broker), Decimal(0)) == stored.filled_quantity
    history = await stack.repos.statuses.history(cid)
    assert [h.sequence for h in history] == list(range(len(history)))
    assert history[-1].status == stored.status


async def test_market_order_fills_once_and_everything_agrees(stack: Stack) -> None:
    req = request(symbol="AAPL", side="BUY", quantity=10)
    ack = await stack.orders.submit_and_wait_for_ack(req)
    assert ack.status in ("ACCEPTED", "PARTIALLY_FILLED", "FILLED")
    outcome = await stack.orders.wait(req.client_order_id or "", timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    assert len(await stack.submissions(req.client_order_id or "")) == 1
    broker = (await stack.broker_orders(req.client_order_id or ""))[0]
    assert Decimal(broker["filled_avg_price"]) == outcome.view.avg_fill_price
    await assert_db_matches_broker(stack, req.client_order_id or "")
    assert outcome.metrics is not None and outcome.metrics.fill_rate == 1
    assert outcome.metrics.slippage_bps is not None and outcome.metrics.execution_count == outcome.executions


async def test_partial_fills_from_thin_liquidity(stack: Stack) -> None:
    await stack.sim.admin.set_liquidity("MSFT", 3)
    req = request(symbol="MSFT", side="BUY", quantity=10)
    cid = await stack.orders.submit(req)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.executions >= 4
    await assert_db_matches_broker(stack, cid)


@pytest.mark.parametrize(
    "fields",
    [
        dict(order_type="LIMIT", limit_price="1.00"),
        dict(order_type="STOP", stop_price="9999"),
        dict(order_type="STOP_LIMIT", stop_price="9999", limit_price="9999.5"),
        dict(order_type="TRAILING_STOP", trail_percent="50", side="SELL"),
        dict(order_type="LIMIT", limit_price="1.00", time_in_force="GTC"),
    ],
)
async def test_resting_orders_amend_and_cancel(stack: Stack, fields: dict[str, Any]) -> None:
    if fields.get("side") == "SELL":
        first = await stack.orders.submit(request(symbol="SPY", side="BUY", quantity=5))
        assert (await stack.orders.wait(first, timeout=30)).view.status == "FILLED"
    fields.setdefault("side", "BUY")
    req = request(symbol="SPY", quantity=5, **fields)
    cid = await stack.orders.submit(req)
    await until_status(stack, cid, "ACCEPTED")
    if req.order_type == "LIMIT":
        amended = await stack.orders.amend(cid, AmendRequest(limit_price=Decimal("1.05"), quantity=Decimal("4")))
        assert amended.accepted
        assert (await stack.orders.status(cid)).quantity == 4
        broker = await stack.broker_orders(cid)
        assert [o["status"] for o in broker] == ["replaced", "accepted"] or len(broker) == 2
    result = await stack.orders.cancel(cid, reason="test")
    assert result.accepted
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "CANCELED"
    assert len(await stack.submissions(cid)) == 1
    with pytest.raises(OrderChangeRejectedError):
        await stack.orders.cancel(cid)
    await assert_db_matches_broker(stack, cid)


async def test_buying_power_rejection_in_a_cash_account(stack: Stack) -> None:
    req = request(symbol="TSLA", side="BUY", quantity=100000, connection_id="alpaca-cash")
    cid = await stack.orders.submit(req)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "REJECTED" and "INSUFFICIENT_BUYING_POWER" in (outcome.view.reason or "")
    assert await stack.submissions(cid) == []  # refused before it reached the broker
    from persistence.repositories.connection_health import stores_for

    alerts = await stores_for(stack.repos).alerts.list_open(f"order:{cid}")
    assert [a.kind for a in alerts] == ["order_rejected"] and "BUYING_POWER" in alerts[0].message


async def test_broker_rejection_is_final_and_recorded(stack: Stack) -> None:
    # A limit far below the market passes our pre-trade check; SIRI cannot be sold short at the broker.
    req = request(symbol="SIRI", side="SELL_SHORT", quantity=10, order_type="LIMIT", limit_price="50")
    cid = await stack.orders.submit(req)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "REJECTED" and "short" in (outcome.view.reason or "").lower()
    assert len(await stack.submissions(cid)) == 1  # the broker saw it once and refused it; never retried
    assert [o["status"] for o in await stack.broker_orders(cid)] in ([], ["rejected"])
    stored = await stack.repos.orders.get(cid)
    assert stored is not None and stored.status == "REJECTED"


async def test_bad_input_is_refused_before_anything_starts(stack: Stack) -> None:
    with pytest.raises(InvalidOrderError) as info:
        await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=-1, order_type="LIMIT"))
    assert set(info.value.fields) >= {"quantity", "price"}
    assert await stack.repos.orders.list_by_status(["REJECTED", "SUBMITTED"]) == []


async def test_sell_records_sec_fee_and_taf_once(stack: Stack) -> None:
    bought = await stack.orders.submit(request(symbol="QQQ", side="BUY", quantity=20))
    assert (await stack.orders.wait(bought, timeout=30)).view.status == "FILLED"
    sold = await stack.orders.submit(request(symbol="QQQ", side="SELL", quantity=20))
    outcome = await stack.orders.wait(sold, timeout=30)
    assert outcome.view.status == "FILLED"
    assert stack.repos.fees is not None
    fees = await stack.repos.fees.list_for_order(sold)
    broker_order = (await stack.broker_orders(sold))[0]["id"]
    broker_fees = [a for a in await stack.sim.admin.activities("ACC1")
                   if a.get("activity_type") == "FEE" and a.get("order_id") == broker_order]
    assert sorted(f.fee_id for f in fees) == sorted(a["id"] for a in broker_fees)
    assert {f.kind for f in fees} == {"SEC_FEE", "FINRA_TAF"}
    total = sum((abs(Decimal(a["net_amount"])) for a in broker_fees), Decimal(0))
    assert outcome.view.fees == total > 0
    stored = await stack.repos.orders.get(sold)
    assert stored is not None and stored.fees == total


async def test_submitting_a_finished_order_again_is_the_same_order(stack: Stack) -> None:
    req = request(symbol="AAPL", side="BUY", quantity=1)
    cid = await stack.orders.submit(req)
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "FILLED"
    assert await stack.orders.submit(req) == cid  # a retry after the order finished: no error, no new order
    assert len(await stack.submissions(cid)) == 1


async def test_no_secret_in_workflow_history(stack: Stack, temporal_env: WorkflowEnvironment) -> None:
    cid = await stack.orders.submit(request(symbol="AAPL", side="BUY", quantity=1))
    await stack.orders.wait(cid, timeout=30)
    history = (await stack.orders.handle(cid).fetch_history()).to_json()
    assert "SIMSECRET" not in history and "SIMKEY" not in history
    assert "SIMSECRET" not in str(await stack.repos.connections.list())


async def test_amend_whose_answer_is_lost_follows_the_replacement(stack: Stack) -> None:
    cid = await stack.orders.submit(request(symbol="SPY", side="BUY", quantity=5, order_type="LIMIT",
                                            limit_price="1.00"))
    await until_status(stack, cid, "ACCEPTED")
    await stack.sim.admin.set_faults(drop_responses=1, drop_mode="close", drop_match="PATCH /v2/orders")
    amended = await stack.orders.amend(cid, AmendRequest(limit_price=Decimal("1.05"), quantity=Decimal("4")))
    await stack.sim.admin.set_faults(drop_responses=0)
    assert amended.accepted
    broker = await stack.broker_orders(cid)
    assert len(broker) == 2 and [o["status"] for o in broker].count("replaced") == 1  # one replace, no more
    dropped = (await stack.sim.admin.orders())["dropped_responses"]
    assert [d["method"] for d in dropped if d["path"].endswith(broker[0]["id"])] == ["PATCH"]
    live = next(o for o in broker if o["status"] != "replaced")
    view = await stack.orders.status(cid)
    assert view.quantity == 4 and view.broker_order_id == live["id"]
    assert (await stack.orders.cancel(cid, reason="test")).accepted
    assert (await stack.orders.wait(cid, timeout=30)).view.status == "CANCELED"
    await assert_db_matches_broker(stack, cid)
