"""Order groups and the account ledger, on PostgreSQL: the native path (Alpaca order classes, on the simulator)
runs the pre-trade check and reserves like single orders, released as legs end; an OCO's two exits (native or
emulated) hold their position once."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal as D

import httpx
import pytest

from activities.models import OrderRequest
from domain.broker_integration import (
    AccountType,
    BrokerAccount,
    BrokerOrder,
    OrderGroupRequest,
    Position,
    PreTradeRejectedError,
)
from domain.broker_integration.repositories import ReservationRequest
from persistence import Repositories
from worker import running_worker

from .test_order_groups import ALPACA, Stack, buy_position, eventually, sim_stack

__all__ = ["sim_stack"]

MON = date(2026, 11, 23)


def _sell(cid: str, qty: str, stock: Position) -> ReservationRequest:
    snapshot = BrokerAccount(
        account_id="acc-g",
        connection_id="sim",
        account_number="PA0000777",
        account_type=AccountType.MARGIN,
        cash=D("10000"),
        equity=D("14100"),
        buying_power=D("20000"),
        positions={"MSFT": stock},
    )
    order = BrokerOrder(
        client_order_id=cid,
        symbol="MSFT",
        side="SELL",
        quantity=D(qty),
        order_type="LIMIT",
        price=D("420"),
        connection_id="sim",
    )
    return ReservationRequest(
        order=order, snapshot=snapshot, reference_price=D("410"), estimated_fees=D("0"), today=MON
    )


async def test_emulated_oco_exits_reserve_their_position_once(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    stock = Position(symbol="MSFT", quantity=D("10"), market_value=D("4100"), last_price=D("410"))
    await ledger.reserve(_sell("grp1-tp", "10", stock))
    await ledger.reserve(_sell("grp1-sl", "10", stock))  # the same 10 shares: it was refused before
    with pytest.raises(PreTradeRejectedError) as refused:  # anything else finds them taken, once
        await ledger.reserve(_sell("other-1", "1", stock))
    assert refused.value.message == "sell 1 MSFT but only 0 available (held 10, 10 in open sells)"
    assert await ledger.release("grp1-tp", "FILLED")
    assert {r.client_order_id for r in await ledger.reservations("acc-g")} == {"grp1-sl"}


def _bracket(gid: str, entry_limit: str, qty: int = 10) -> OrderGroupRequest:
    legs = [
        {
            "role": "ENTRY",
            "side": "BUY",
            "quantity": qty,
            "order_type": "LIMIT",
            "limit_price": entry_limit,
            "time_in_force": "GTC",
        },
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": qty,
            "order_type": "LIMIT",
            "limit_price": "195",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": qty,
            "order_type": "STOP",
            "stop_price": "180",
            "time_in_force": "GTC",
        },
    ]
    return OrderGroupRequest(group_id=gid, kind="BRACKET", symbol="AAPL", legs=legs, connection_id=ALPACA)


async def _at_alpaca(stack: Stack, client_order_id: str) -> bool:
    async with httpx.AsyncClient(base_url=stack.sim.base_url, headers=stack.sim.headers("ACC1"), timeout=10) as c:
        found = await c.get("/v2/orders:by_client_order_id", params={"client_order_id": client_order_id})
    return found.status_code == 200


async def _held(stack: Stack, client_order_id: str) -> bool:
    assert stack.repos.ledger is not None
    found = await stack.repos.ledger.reservation(client_order_id)
    return (
        found is not None
        and found.held_quantity > 0
        and found in await stack.repos.ledger.reservations(found.account_id)
    )


async def test_native_bracket_reserves_the_entry_then_the_exits_and_releases_as_legs_end(
    sim_stack: Stack, task_queue: str
) -> None:
    stack = sim_stack
    assert stack.repos.ledger is not None
    gid = f"nres-{uuid.uuid4().hex[:8]}"
    async with running_worker(stack.client, stack.repos, task_queue):
        await stack.orders.submit_group(_bracket(gid, "190"), poll_interval_seconds=0.3)  # marketable: fills
        await eventually(lambda: _held(stack, f"{gid}-tp"), 30, "the exits reserved once the entry filled")
        entry = await stack.repos.ledger.reservation(f"{gid}-en")
        assert entry is not None and entry.amount == D("1900") and entry.held_quantity == 0
        tp, sl = [await stack.repos.ledger.reservation(f"{gid}-{s}") for s in ("tp", "sl")]
        assert tp is not None and sl is not None and tp.quantity == sl.quantity == 10
        await stack.sim.admin.set_price("AAPL", 196, volatility=0)  # the take-profit trades
        view = await stack.orders.wait_group(gid, timeout=60)
    assert view.status == "COMPLETED" and view.path == "NATIVE"
    account_id = tp.account_id
    assert not [r for r in await stack.repos.ledger.reservations(account_id) if r.client_order_id.startswith(gid)]


async def test_native_group_refused_by_the_pre_trade_check_is_never_sent(sim_stack: Stack, task_queue: str) -> None:
    stack = sim_stack
    gid = f"nref-{uuid.uuid4().hex[:8]}"
    async with running_worker(stack.client, stack.repos, task_queue):
        # 10,000 AAPL at 187.50: 1,875,000, far beyond ACC1's 200,000 of Reg T buying power.
        await stack.orders.submit_group(_bracket(gid, "187.50", qty=10_000), poll_interval_seconds=0.3)
        view = await stack.orders.wait_group(gid, timeout=60)
    assert view.status == "FAILED" and view.path == "NATIVE"
    assert "INSUFFICIENT_BUYING_POWER" in (view.reason or ""), view.reason
    assert str(view.legs[0].status) == "REJECTED"
    assert not await _at_alpaca(stack, f"{gid}-en")
    assert stack.repos.ledger is not None and await stack.repos.ledger.reservation(f"{gid}-en") is None


async def test_native_oco_exits_are_checked_against_the_position(sim_stack: Stack, task_queue: str) -> None:
    stack = sim_stack
    async with running_worker(stack.client, stack.repos, task_queue):
        await buy_position(stack, "MSFT", 10, ALPACA)
        held = OrderRequest(
            client_order_id=f"hold-{uuid.uuid4().hex[:8]}",
            symbol="MSFT",
            side="SELL",
            quantity=4,
            order_type="LIMIT",
            limit_price="500",
            time_in_force="GTC",
            connection_id=ALPACA,
            poll_interval_seconds=0.3,
        )
        await stack.orders.submit(held)  # rests: 4 of the 10 shares are spoken for
        await eventually(lambda: _held(stack, held.client_order_id or ""), 30, "the resting sell reserved")
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
        group = OrderGroupRequest(group_id=gid, kind="OCO", symbol="MSFT", legs=legs, connection_id=ALPACA)
        await stack.orders.submit_group(group, poll_interval_seconds=0.3)
        view = await stack.orders.wait_group(gid, timeout=60)
        assert view.status == "FAILED"
        assert "INSUFFICIENT_POSITION" in (view.reason or "") and "only 6 available" in (view.reason or ""), view.reason
        assert not await _at_alpaca(stack, f"{gid}-tp")
        await stack.orders.cancel(held.client_order_id or "", reason="test done")
        assert (await stack.orders.wait(held.client_order_id or "", timeout=30)).view.status == "CANCELED"
