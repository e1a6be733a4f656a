"""Faults switched on at run time: 5xx, 429 bursts, latency, lost responses, stream drops, token expiry."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from simulator.testing import SimulatorHandle
from tests.simulator.conftest import limit, market, open_stream


async def test_5xx_answers_change_nothing(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(error_rate=1.0, error_status=503)
    failed = await client.post("/v2/orders", json=market(client_order_id="e-1"))
    assert failed.status_code == 503 and failed.json()["code"] == 50310000
    assert (await sim.admin.orders())["orders"] == []
    await sim.admin.clear_faults()
    assert (await client.post("/v2/orders", json=market(client_order_id="e-1"))).status_code == 200


async def test_429_burst_then_recovery(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(burst_429=2)
    statuses = [(await client.get("/v2/clock")).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


async def test_added_latency(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(latency_ms=300)
    started = time.monotonic()
    await client.get("/v2/clock")
    assert time.monotonic() - started >= 0.3


async def test_ambiguous_submit_connection_closed(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(drop_responses=1, drop_mode="close")
    with pytest.raises(httpx.TransportError):
        await client.post("/v2/orders", json=market(client_order_id="amb-1"))
    found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "amb-1"})
    assert found.status_code == 200 and found.json()["status"] == "filled"
    retry = await client.post("/v2/orders", json=market(client_order_id="amb-1"))
    assert retry.status_code == 422
    view = await sim.admin.orders("ACC1")
    assert len(view["by_client_order_id"]["amb-1"]) == 1
    assert [s["http_status"] for s in view["submissions"]["amb-1"]] == [200, 422]
    assert view["dropped_responses"] == [{"method": "POST", "path": "/v2/orders", "status": 200, "mode": "close"}]


async def test_ambiguous_submit_response_too_late(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(drop_responses=1, drop_mode="delay", drop_delay_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        await client.post("/v2/orders", json=limit("AAPL", 1, 100, client_order_id="late-1"), timeout=0.3)
    found = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "late-1"})
    assert found.json()["status"] == "new"


async def test_stream_drop_fills_continue_and_are_not_replayed(
    sim: SimulatorHandle, client: httpx.AsyncClient
) -> None:
    ws = await open_stream(sim)
    order = (await client.post("/v2/orders", json=limit("AAPL", 1, 180))).json()
    assert json.loads(await ws.recv())["data"]["event"] == "new"
    closed = await sim.admin.disconnect_streams(refuse_seconds=0.5)
    assert closed["closed"] == 1
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 2)
    await sim.admin.set_price("AAPL", "179")  # fills while nobody listens
    with pytest.raises(websockets.InvalidStatus):
        await websockets.connect(sim.ws_url)
    await asyncio.sleep(0.6)
    again = await open_stream(sim)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(again.recv(), 0.2)
    assert (await client.get(f"/v2/orders/{order['id']}")).json()["status"] == "filled"
    await client.post("/v2/orders", json=market())
    assert json.loads(await again.recv())["data"]["event"] == "new"
    await again.close()


async def test_token_expiry_gives_401_and_closes_its_streams(sim: SimulatorHandle) -> None:
    token = (await sim.admin.issue_token("ACC1"))["token"]
    ws = await open_stream(sim, {"action": "authenticate", "data": {"oauth_token": token}})
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=sim.base_url, headers=headers) as http:
        assert (await http.get("/v2/account")).status_code == 200
        await sim.admin.expire_token(token)
        expired = await http.get("/v2/account")
    assert expired.status_code == 401 and expired.json()["code"] == 40110000
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 2)


async def test_token_with_ttl_expires_by_itself(sim: SimulatorHandle) -> None:
    token = (await sim.admin.issue_token("ACC2", ttl_seconds=0.2))["token"]
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
        assert (await http.get("/v2/clock")).status_code == 200
        await asyncio.sleep(0.3)
        assert (await http.get("/v2/clock")).status_code == 401
