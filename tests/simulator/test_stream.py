"""The trade_updates WebSocket: auth spellings, binary frames, event sequences and fields."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets

from simulator.testing import SimulatorHandle
from tests.simulator.conftest import limit, market, open_stream


async def _events(ws: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        frame = await asyncio.wait_for(ws.recv(), timeout)
        assert isinstance(frame, bytes), "Alpaca's paper stream sends binary frames"
        message = json.loads(frame)
        assert message["stream"] == "trade_updates"
        out.append(message["data"])
    return out


async def _no_more(ws: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(ws.recv(), 0.2)


@pytest.mark.parametrize("auth", [
    {"action": "auth", "key": "SIMKEY", "secret": "SIMSECRET"},
    {"action": "authenticate", "data": {"key_id": "SIMKEY", "secret_key": "SIMSECRET"}},
    {"action": "authenticate", "data": {"oauth_token": "SIMTOKEN"}},
])
async def test_every_auth_spelling_is_accepted(sim: SimulatorHandle, auth: dict[str, Any]) -> None:
    ws = await open_stream(sim, auth)
    await ws.close()


async def test_bad_auth_and_listen_before_auth(sim: SimulatorHandle) -> None:
    async with websockets.connect(sim.ws_url) as ws:
        await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        assert json.loads(await ws.recv()) == {"stream": "authorization",
                                               "data": {"status": "unauthorized", "action": "listen"}}
        await ws.send(json.dumps({"action": "auth", "key": "SIMKEY", "secret": "wrong"}))
        assert json.loads(await ws.recv())["data"] == {"status": "unauthorized", "action": "authenticate"}
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 2)


async def test_partial_fills_carry_execution_qty_price_and_position(
    sim: SimulatorHandle, client: httpx.AsyncClient
) -> None:
    ws = await open_stream(sim)
    await sim.admin.set_liquidity("AAPL", 10)
    order = (await client.post("/v2/orders", json=market(qty="25"))).json()
    first = await _events(ws, 2)
    await sim.admin.advance(2)
    rest = await _events(ws, 2)
    events = first + rest
    assert [e["event"] for e in events] == ["new", "partial_fill", "partial_fill", "fill"]
    assert [e["order"]["status"] for e in events] == ["new", "partially_filled", "partially_filled", "filled"]
    fills = events[1:]
    assert [(f["qty"], f["price"], f["position_qty"], f["order"]["filled_qty"]) for f in fills] == [
        ("10", "187.51", "10", "10"), ("10", "187.51", "20", "20"), ("5", "187.51", "25", "25")]
    assert all(uuid.UUID(f["execution_id"]) for f in fills)
    assert all(e["timestamp"] and e["order"]["id"] == order["id"] for e in events)
    assert "execution_id" not in events[0] and "price" not in events[0]
    await ws.close()


async def test_replace_and_cancel_sequences(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    ws = await open_stream(sim)
    old = (await client.post("/v2/orders", json=limit("MSFT", 1, 400))).json()
    assert [e["event"] for e in await _events(ws, 1)] == ["new"]
    new = (await client.patch(f"/v2/orders/{old['id']}", json={"limit_price": "401"})).json()
    replace = await _events(ws, 3)
    assert [(e["event"], e["order"]["id"]) for e in replace] == [
        ("pending_replace", old["id"]), ("replaced", old["id"]), ("new", new["id"])]
    assert replace[1]["order"]["status"] == "replaced" and replace[1]["order"]["replaced_by"] == new["id"]
    assert replace[2]["order"]["replaces"] == old["id"]
    assert (await client.delete(f"/v2/orders/{new['id']}")).status_code == 204
    cancel = await _events(ws, 2)
    assert [(e["event"], e["order"]["status"]) for e in cancel] == [("pending_cancel", "pending_cancel"),
                                                                    ("canceled", "canceled")]
    assert cancel[1]["order"]["canceled_at"] is not None
    await ws.close()


async def test_events_only_reach_the_orders_account(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    other = await open_stream(sim, {"action": "auth", "key": "SIMKEY2", "secret": "SIMSECRET2"})
    await client.post("/v2/orders", json=market())
    await _no_more(other)
    await other.close()


async def test_day_order_expires_at_the_close(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    ws = await open_stream(sim)
    await client.post("/v2/orders", json=limit("SPY", 1, 100, tif="day"))
    await sim.admin.advance(until="close")
    assert [(e["event"], e["order"]["status"]) for e in await _events(ws, 2)] == [("new", "new"),
                                                                                 ("expired", "expired")]
    await ws.close()


async def test_venue_races_on_cancel_and_replace(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    ws = await open_stream(sim)
    order = (await client.post("/v2/orders", json=limit("AAPL", 2, 100))).json()
    await _events(ws, 1)
    await sim.admin.set_quirks(fill_before_cancel=1)
    assert (await client.delete(f"/v2/orders/{order['id']}")).status_code == 204
    assert [e["event"] for e in await _events(ws, 3)] == ["pending_cancel", "fill", "order_cancel_rejected"]
    second = (await client.post("/v2/orders", json=limit("AAPL", 2, 100))).json()
    await _events(ws, 1)
    await sim.admin.set_quirks(fill_before_replace=1)
    new = await client.patch(f"/v2/orders/{second['id']}", json={"limit_price": "101"})
    assert new.status_code == 200
    race = await _events(ws, 4)
    assert [(e["event"], e["order"]["id"]) for e in race] == [
        ("pending_replace", second["id"]), ("fill", second["id"]), ("order_replace_rejected", second["id"]),
        ("rejected", new.json()["id"])]
    await ws.close()
