"""Accounts end to end against the simulator: pre-trade with our figures, concurrent reservations, and a day
of fills booked into balances and positions that match the broker's to the cent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.calendar import market_date
from activities.models import AmendRequest
from brokers.registry import GatewayRegistry
from domain.broker_integration import BrokerAccount
from domain.broker_integration.rules.accounting import account_drift, apply_fill
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.orders import OrderClient
from tests.integration.test_order_flow import register, request
from worker import running_worker


@dataclass
class Desk:
    sim: SimulatorHandle
    orders: OrderClient
    repos: Repositories
    registry: GatewayRegistry

    async def broker_account(self, connection_id: str) -> BrokerAccount:
        connection = await self.repos.connections.get(connection_id)
        assert connection is not None
        return await self.registry.gateway_for(connection).get_account()

    async def submissions(self, client_order_id: str) -> list[object]:
        view = await self.sim.admin.orders()
        return list(view["submissions"].get(client_order_id, []))

    async def open_account(self, kind: str, cash: str) -> str:
        name = f"T{uuid.uuid4().hex[:8].upper()}"
        await self.sim.admin.create_account(name, type=kind, cash=D(cash), key=f"K{name}", secret=f"S{name}")
        await register(self.repos, name.lower(), self.sim.base_url, f"K{name}", f"S{name}")
        return name.lower()


@pytest_asyncio.fixture(loop_scope="session")
async def desk(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
               ) -> AsyncIterator[Desk]:
    async with running_simulator(autotick=True) as sim:
        registry = GatewayRegistry(credentials=repositories.connections.get_credentials)
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield Desk(sim, OrderClient(temporal_env.client, task_queue), repositories, registry)
        await registry.aclose()


async def test_order_beyond_buying_power_is_refused_with_the_figures(desk: Desk) -> None:
    conn = await desk.open_account("cash", "5000")
    cid = await desk.orders.submit(request(symbol="AAPL", side="BUY", quantity=40, order_type="LIMIT",
                                           limit_price="150", connection_id=conn))
    outcome = await desk.orders.wait(cid, timeout=30)
    assert outcome.view.status == "REJECTED"
    reason = outcome.view.reason or ""
    assert "INSUFFICIENT_BUYING_POWER" in reason
    assert "order needs $6,000.00" in reason and "settled cash $5,000.00" in reason and "leaves $5,000.00" in reason
    assert await desk.submissions(cid) == []  # the broker never saw it


async def test_concurrent_orders_reserve_buying_power(desk: Desk) -> None:
    conn = await desk.open_account("cash", "50000")
    # Eight resting buys of 10,000 each at once against 50,000: five fit, three are refused before the broker.
    reqs = [request(symbol="AMZN", side="BUY", quantity=100, order_type="LIMIT", limit_price="100",
                    connection_id=conn) for _ in range(8)]
    cids = await asyncio.gather(*(desk.orders.submit(r) for r in reqs))
    outcomes = {}
    for cid in cids:
        for _ in range(200):
            view = await desk.orders.status(cid)
            if view.status in ("ACCEPTED", "REJECTED"):
                outcomes[cid] = view
                break
            await asyncio.sleep(0.1)
    accepted = [c for c, v in outcomes.items() if v.status == "ACCEPTED"]
    refused = [c for c, v in outcomes.items() if v.status == "REJECTED"]
    assert len(accepted) == 5 and len(refused) == 3
    for cid in refused:
        assert "INSUFFICIENT_BUYING_POWER" in (outcomes[cid].reason or "")
        assert await desk.submissions(cid) == []
    for cid in accepted:
        assert len(await desk.submissions(cid)) == 1
    assert desk.repos.ledger is not None
    held = await desk.repos.ledger.reservations((await desk.broker_account(conn)).account_id)
    assert sorted(r.client_order_id for r in held) == sorted(accepted)
    # A cancel releases its reservation: one more order now fits.
    await desk.orders.cancel(accepted[0])
    assert (await desk.orders.wait(accepted[0], timeout=30)).view.status == "CANCELED"
    again = await desk.orders.submit(request(symbol="AMZN", side="BUY", quantity=100, order_type="LIMIT",
                                             limit_price="100", connection_id=conn))
    for _ in range(200):
        if (await desk.orders.status(again)).status in ("ACCEPTED", "REJECTED"):
            break
        await asyncio.sleep(0.1)
    assert (await desk.orders.status(again)).status == "ACCEPTED"
    for cid in [*accepted[1:], again]:
        await desk.orders.cancel(cid)


async def test_a_day_of_fills_matches_the_broker_to_the_cent(desk: Desk) -> None:
    conn = await desk.open_account("margin", "100000")
    start = await desk.broker_account(conn)
    await desk.sim.admin.set_liquidity("MSFT", 7)  # partial fills
    day = [
        dict(symbol="AAPL", side="BUY", quantity=30),
        dict(symbol="MSFT", side="BUY", quantity=25),
        dict(symbol="SPY", side="BUY", quantity=12, order_type="LIMIT", limit_price="9999"),
        dict(symbol="AAPL", side="SELL", quantity=11),
        dict(symbol="MSFT", side="SELL", quantity=9),
        dict(symbol="QQQ", side="SELL_SHORT", quantity=5, order_type="LIMIT", limit_price="1"),
        dict(symbol="AAPL", side="BUY", quantity=4),
    ]
    cids = []
    for fields in day:
        cid = await desk.orders.submit(request(connection_id=conn, **fields))
        outcome = await desk.orders.wait(cid, timeout=60)
        assert outcome.view.status == "FILLED", (fields, outcome.view.reason)
        cids.append(cid)
    broker = await desk.broker_account(conn)
    ours = await desk.repos.accounts.get(broker.account_id)
    assert ours is not None
    # What we booked, fill by fill and fee by fee, is what the broker holds.
    assert account_drift(ours, broker, tolerance=D("0")) == []
    assert ours.cash == broker.cash
    for symbol, position in broker.positions.items():
        assert ours.positions[symbol].quantity == position.quantity
        assert ours.positions[symbol].cost_basis.quantize(D("0.01")) == (
            position.quantity * position.avg_entry_price).quantize(D("0.01"))
    # And from scratch: the start-of-day snapshot plus every recorded execution and fee gives the same cash.
    replay = start
    fees = D(0)
    for cid in cids:
        for report in await desk.repos.executions.list_for_order(cid):
            replay = apply_fill(replay, symbol=report.symbol, side=report.side, quantity=report.quantity,
                                price=report.price, trade_date=market_date(report.executed_at)).account
        assert desk.repos.fees is not None
        fees += sum((f.amount for f in await desk.repos.fees.list_for_order(cid)), D(0))
    assert fees > 0
    assert replay.cash - fees == broker.cash
    assert {s: p.quantity for s, p in replay.positions.items()} == {s: p.quantity for s, p in broker.positions.items()}
    # A sync finds nothing to alert on, and keeps the P&L we realized.
    assert desk.repos.ledger is not None and broker.updated_at is not None
    synced = await desk.repos.ledger.sync(broker, market_date(broker.updated_at))
    assert synced.drifts == [] and synced.orders_in_flight == 0
    assert synced.account.realized_pnl != 0


async def test_amend_is_checked_and_moves_the_reservation(desk: Desk) -> None:
    conn = await desk.open_account("cash", "5000")
    resting = dict(symbol="AMZN", side="BUY", order_type="LIMIT", limit_price="100", connection_id=conn)
    cid = await desk.orders.submit(request(quantity=40, **resting))
    for _ in range(200):
        if (await desk.orders.status(cid)).status == "ACCEPTED":
            break
        await asyncio.sleep(0.1)
    too_big = await desk.orders.amend(cid, AmendRequest(quantity=D("60")))
    assert not too_big.accepted and "INSUFFICIENT_BUYING_POWER" in (too_big.message or "")
    assert "pre-trade check refused" in (too_big.message or "")
    view = await desk.sim.admin.orders()
    at_broker = [o for o in view["orders"] if o["client_order_id"].split("~")[0] == cid]
    assert [(o["status"], o["qty"]) for o in at_broker] == [("new", "40")]  # no replace was sent
    assert (await desk.orders.amend(cid, AmendRequest(quantity=D("45")))).accepted
    assert desk.repos.ledger is not None
    reservation = await desk.repos.ledger.reservation(cid)
    assert reservation is not None and reservation.held_amount == D("4500")
    refused = await desk.orders.submit(request(quantity=6, **resting))
    assert (await desk.orders.wait(refused, timeout=30)).view.status == "REJECTED"  # 600 > 500 left
    fits = await desk.orders.submit(request(quantity=5, **resting))
    for _ in range(200):
        if (await desk.orders.status(fits)).status in ("ACCEPTED", "REJECTED"):
            break
        await asyncio.sleep(0.1)
    assert (await desk.orders.status(fits)).status == "ACCEPTED"
    for c in (cid, fits):
        await desk.orders.cancel(c)
        assert (await desk.orders.wait(c, timeout=30)).view.status == "CANCELED"
    assert await desk.repos.ledger.reservations(reservation.account_id) == []
