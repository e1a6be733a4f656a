"""Tradier's account events: a REST session id, a subscription payload, order events joined by id, drops."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from simulator.testing import SimulatorHandle

JSON = {"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}


async def session(sim: SimulatorHandle, token: str = "SIMTOKEN") -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10) as http:
        answer = await http.post("/v1/accounts/events/session",
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    assert answer.status_code == 200
    return dict(answer.json()["stream"])


async def subscribed(sim: SimulatorHandle, token: str = "SIMTOKEN") -> Any:
    stream = await session(sim, token)
    ws = await websockets.connect(stream["url"])
    await ws.send(json.dumps({"events": ["order"], "sessionid": stream["sessionid"], "excludeAccounts": []}))
    await asyncio.sleep(0.1)
    return ws


async def next_order_event(ws: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message.get("event") == "order":
            return dict(message)


async def place(sim: SimulatorHandle, account: str, form: dict[str, str]) -> int:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=JSON, timeout=10) as http:
        answer = await http.post(f"/v1/accounts/{account}/orders", data=form)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["order"]["id"])


def number(sim: SimulatorHandle, account_id: str = "ACC1") -> str:
    assert sim.runtime is not None
    return sim.runtime.exchange.state.accounts[account_id].number


async def test_session_url_is_served_on_the_same_host(sim: SimulatorHandle) -> None:
    stream = await session(sim)
    assert stream["url"] == sim.base_url.replace("http://", "ws://") + "/v1/accounts/events"
    assert len(stream["sessionid"]) >= 16


async def test_fills_arrive_as_cumulative_order_events(sim: SimulatorHandle) -> None:
    await sim.admin.set_liquidity("AAPL", 4)
    ws = await subscribed(sim)
    order_id = await place(sim, number(sim), {"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "10",
                                              "type": "market", "duration": "day", "tag": "ev-1"})
    seen = [await next_order_event(ws)]
    while seen[-1]["status"] != "filled":
        await sim.admin.advance(1)
        seen.append(await next_order_event(ws))
    assert {e["id"] for e in seen} == {order_id} and all(e["tag"] == "ev-1" for e in seen)
    assert all(e["account"] == number(sim) and "symbol" not in e and "side" not in e for e in seen)
    executed = [e["exec_quantity"] for e in seen if e["status"] in ("partially_filled", "filled")]
    assert executed == sorted(executed) and executed[-1] == 10.0 and len(executed) >= 3
    assert seen[-1]["remaining_quantity"] == 0.0 and seen[-1]["avg_fill_price"] > 0
    await ws.close()


async def test_events_only_reach_the_account_of_the_session(sim: SimulatorHandle) -> None:
    mine, theirs = await subscribed(sim), await subscribed(sim, "SIMTOKEN2")
    await place(sim, number(sim), {"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "1",
                                   "type": "limit", "price": "100", "duration": "gtc"})
    assert (await next_order_event(mine))["status"] == "open"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(theirs.recv(), 0.5)
    await mine.close()
    await theirs.close()


async def test_an_unknown_session_is_refused(sim: SimulatorHandle) -> None:
    url = sim.base_url.replace("http://", "ws://") + "/v1/accounts/events"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"events": ["order"], "sessionid": "made-up", "excludeAccounts": []}))
        assert "error" in json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)


async def test_admin_drop_closes_tradier_streams_too(sim: SimulatorHandle) -> None:
    ws = await subscribed(sim)
    assert (await sim.admin.state())["stream_connections"] == 1
    assert (await sim.admin.disconnect_streams(refuse_seconds=1))["closed"] == 1
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    stream = await session(sim)
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(stream["url"])  # refused while the drop lasts
