"""Anomalies the simulator injects for the alert tests: bad fills, stalls, slow acknowledgements."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from simulator.core import OrderStatus
from simulator.testing import SimulatorHandle
from tests.simulator.conftest import market
from tests.simulator.helpers import exchange, order

D = Decimal


def test_bad_fills_are_priced_against_the_order() -> None:
    ex = exchange()
    ex.state.quirks.bad_fill_bps = 300
    bought = ex.state.orders[ex.submit("ACC1", order("AAPL", "buy", "10")).id]
    assert bought.filled_avg_price == D("193.14")  # the ask 187.51, 3% worse, on the cent
    sold = ex.state.orders[ex.submit("ACC1", order("AAPL", "sell", "10")).id]
    assert sold.filled_avg_price == D("181.87")  # the bid 187.49, 3% worse
    ex.state.quirks.bad_fill_bps = 0
    assert ex.state.orders[ex.submit("ACC1", order("AAPL", "buy", "1")).id].filled_avg_price == D("187.51")


def test_a_marketable_limit_is_filled_through_its_limit() -> None:
    ex = exchange()
    ex.state.quirks.bad_fill_bps = 20
    placed = ex.submit("ACC1", order("AAPL", "buy", "5", "limit", "day", limit_price="187.51"))
    live = ex.state.orders[placed.id]
    assert live.status is OrderStatus.FILLED and live.filled_avg_price == D("187.89")


def test_stalled_orders_work_but_do_not_fill() -> None:
    ex = exchange()
    ex.state.quirks.stall_fills = True
    placed = ex.submit("ACC1", order("AAPL", "buy", "10"))
    ex.advance(D(30))
    assert ex.state.orders[placed.id].status is OrderStatus.NEW
    ex.state.quirks.stall_fills = False
    ex.advance(D(1))
    assert ex.state.orders[placed.id].status is OrderStatus.FILLED


def test_stall_after_a_partial_fill() -> None:
    ex = exchange()
    ex.state.quirks.stall_after_partial = True
    placed = ex.submit("ACC1", order("AAPL", "buy", "10"))
    ex.advance(D(30))
    live = ex.state.orders[placed.id]
    assert live.status is OrderStatus.PARTIALLY_FILLED and live.filled_qty == 5


async def test_switches_over_the_admin_api_and_bad_values_change_nothing(sim: SimulatorHandle) -> None:
    assert (await sim.admin.set_quirks(bad_fill_bps=50, stall_fills=True))["bad_fill_bps"] == 50
    for bad in ({"bad_fill_bps": "x"}, {"bad_fill_bps": -1}, {"stall_fills": 1},
                {"stall_fills": False, "bad_fill_bps": True}):
        with pytest.raises(httpx.HTTPStatusError):
            await sim.admin.set_quirks(**bad)
    state = await sim.admin.set_quirks()
    assert (state["bad_fill_bps"], state["stall_fills"]) == (50, True)
    with pytest.raises(httpx.HTTPStatusError):
        await sim.admin.set_faults(ack_delay_ms=-5)


async def test_acknowledgements_answer_late(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(ack_delay_ms=300)
    started = time.monotonic()
    placed = await client.post("/v2/orders", json=market(client_order_id="slow-1"))
    assert placed.status_code == 200 and time.monotonic() - started >= 0.3
    assert [o["client_order_id"] for o in (await sim.admin.orders())["orders"]] == ["slow-1"]
