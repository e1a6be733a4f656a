"""TradierGateway against the simulator's Tradier front end over real HTTP and its events socket: option orders
(the side from the position, reports named by the contract) and groups held by Tradier (otoco/oco/oto)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
from pydantic import SecretStr

from brokers.tradier import TradierConfig, TradierGateway, TradierPositionEffectError, TradierRejectedError
from domain.broker_integration import (
    AssetClass,
    BrokerOrder,
    ConnectionCredentials,
    LegRole,
    OrderGroupRequest,
    OrderStatus,
    TradeEventKind,
)
from simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.helpers import frozen_config
from tests.trade_updates import Collector, eventually

pytestmark = pytest.mark.integration

CALL, PUT = "AAPL260320C00190000", "AAPL260320P00180000"
D = Decimal


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(frozen_config()) as handle:
        yield handle


@pytest_asyncio.fixture
async def gateway(sim: SimulatorHandle) -> AsyncIterator[TradierGateway]:
    config = TradierConfig(base_url=sim.base_url, stream_backoff_initial=0.05, stream_backoff_max=0.2)
    gw = TradierGateway("tradier-options", config)
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
    yield gw
    await gw.close()


def contract(cid: str, side: str, qty: str, symbol: str = CALL, **fields: str) -> BrokerOrder:
    return BrokerOrder(client_order_id=cid, symbol=symbol, side=side, quantity=qty, asset_class="OPTION", **fields)


async def test_options_open_close_write_and_buy_back(gateway: TradierGateway) -> None:
    assert await gateway.latest_price(CALL) == D("5.04")
    bought = await gateway.submit_order(contract("opt-buy", "BUY", "3"))
    assert (bought.symbol, bought.status, bought.filled_avg_price) == (CALL, OrderStatus.FILLED, D("5.09"))
    (position,) = await gateway.get_positions()
    assert (position.symbol, position.quantity, position.asset_class, position.avg_entry_price) == (
        CALL,
        D(3),
        AssetClass.OPTION,
        D("5.09"),
    )
    account = await gateway.get_account()
    assert account.cash == D(100000) - 3 * D("5.09") * 100
    with pytest.raises(TradierPositionEffectError):
        await gateway.submit_order(contract("opt-sell-too-many", "SELL", "4"))
    sold = await gateway.submit_order(contract("opt-sell", "SELL", "3"))
    assert sold.status is OrderStatus.FILLED and await gateway.get_positions() == []
    written = await gateway.submit_order(contract("opt-write", "SELL_SHORT", "1", symbol=PUT))
    assert written.status is OrderStatus.FILLED
    back = await gateway.submit_order(contract("opt-back", "BUY", "1", symbol=PUT))  # short: BUY closes
    assert back.status is OrderStatus.FILLED and await gateway.get_positions() == []
    fills = await gateway.executions_since(datetime(2026, 3, 1, tzinfo=UTC))
    assert [(f.client_order_id, f.symbol, str(f.side), f.quantity) for f in fills] == [
        ("opt-buy", CALL, "BUY", D(3)),
        ("opt-sell", CALL, "SELL", D(3)),
        ("opt-write", PUT, "SELL_SHORT", D(1)),
        ("opt-back", PUT, "BUY_TO_COVER", D(1)),
    ]


async def test_an_option_order_is_placed_once_and_refused_when_malformed(
    sim: SimulatorHandle, gateway: TradierGateway
) -> None:
    resting = contract("opt-rest", "BUY", "2", order_type="LIMIT", price="1")
    placed = await gateway.submit_order(resting)
    assert (await gateway.submit_order(resting)).broker_order_id == placed.broker_order_id
    found = await gateway.get_order_by_client_id("opt-rest")
    assert found is not None and found.symbol == CALL and found.status is OrderStatus.ACCEPTED
    assert [o.symbol for o in await gateway.list_open_orders()] == [CALL]
    with pytest.raises(TradierRejectedError, match="could not find"):
        await gateway.submit_order(contract("opt-nope", "BUY", "1", symbol="NOPE260320C00100000"))
    with pytest.raises(TradierRejectedError, match="expired"):
        await gateway.submit_order(contract("opt-old", "BUY", "1", symbol="AAPL250320C00190000"))
    submissions = (await sim.admin.orders())["submissions"]
    assert len(submissions["opt-rest"]) == 1


async def test_option_events_name_the_contract(sim: SimulatorHandle, gateway: TradierGateway) -> None:
    stream = Collector(gateway)
    await asyncio.sleep(0.3)
    try:
        await gateway.submit_order(contract("opt-ev", "BUY", "2"))
        await eventually(lambda: any(e.kind is TradeEventKind.FILL for e in stream.of("opt-ev")))
    finally:
        await stream.stop()
    fill = next(e for e in stream.of("opt-ev") if e.kind is TradeEventKind.FILL)
    assert fill.order.symbol == CALL and fill.execution is not None and fill.execution.symbol == CALL


async def test_a_native_bracket_holds_its_exits_and_the_stream_reports_each_leg(
    sim: SimulatorHandle, gateway: TradierGateway
) -> None:
    legs = [
        {
            "role": "ENTRY",
            "side": "BUY",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": "185",
            "time_in_force": "GTC",
        },
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": "195",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": 10,
            "order_type": "STOP",
            "stop_price": "180",
            "time_in_force": "GTC",
        },
    ]
    group = OrderGroupRequest(group_id="gw-br1", kind="BRACKET", symbol="AAPL", legs=legs, connection_id="c")
    stream = Collector(gateway)
    await asyncio.sleep(0.3)
    try:
        placed = await gateway.submit_group(group)
        assert [placed[r].status for r in (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)] == [
            OrderStatus.ACCEPTED
        ] * 3
        assert await gateway.submit_group(group) == placed, "placed once: found by its tag"
        await sim.admin.set_price("AAPL", "184.90", volatility="0")
        entry_id = placed[LegRole.ENTRY].broker_order_id
        await eventually(lambda: any(e.execution is not None for e in stream.of(entry_id)))
        await sim.admin.set_price("AAPL", "195.50", volatility="0")
        await eventually(
            lambda: any(e.execution is not None for e in stream.of(placed[LegRole.TAKE_PROFIT].broker_order_id))
        )
    finally:
        await stream.stop()
    done = await gateway.get_group_by_client_id(group)
    assert [done[r].status for r in (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)] == [
        OrderStatus.FILLED,
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
    ]
    fills = await gateway.executions_since(datetime(2026, 3, 1, tzinfo=UTC))
    ids = {done[r].broker_order_id for r in LegRole}
    assert sorted((f.broker_order_id, f.quantity) for f in fills if f.broker_order_id in ids) == sorted(
        [(done[LegRole.ENTRY].broker_order_id, D(10)), (done[LegRole.TAKE_PROFIT].broker_order_id, D(10))]
    )


async def test_cancelling_a_leg_cancels_the_group(gateway: TradierGateway) -> None:
    legs = [
        {
            "role": "ENTRY",
            "side": "BUY",
            "quantity": 2,
            "order_type": "LIMIT",
            "limit_price": "4",
            "time_in_force": "GTC",
        },
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 2,
            "order_type": "LIMIT",
            "limit_price": "8",
            "time_in_force": "GTC",
        },
    ]
    group = OrderGroupRequest(
        group_id="gw-oto1", kind="OTO", symbol=CALL, asset_class="OPTION", legs=legs, connection_id="c"
    )
    placed = await gateway.submit_group(group)
    await gateway.cancel_order(placed[LegRole.ENTRY].broker_order_id)
    after = await gateway.get_group_by_client_id(group)
    assert [after[r].status for r in (LegRole.ENTRY, LegRole.TAKE_PROFIT)] == [OrderStatus.CANCELED] * 2
    assert after[LegRole.TAKE_PROFIT].symbol == CALL
