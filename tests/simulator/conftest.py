"""Fixtures: a fresh in-process simulator per test (frozen prices, no autotick) and clients for it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import websockets

from simulator.testing import SimulatorHandle, running_simulator
from tests.simulator.helpers import frozen_config


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with running_simulator(frozen_config()) as handle:
        yield handle


@pytest_asyncio.fixture
async def client(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=sim.headers("ACC1"), timeout=10) as http:
        yield http


async def open_stream(sim: SimulatorHandle, auth: dict[str, Any] | None = None) -> Any:
    """Connect, authenticate (alpaca-py's spelling by default) and listen to trade_updates."""
    ws = await websockets.connect(sim.ws_url)
    await ws.send(json.dumps(auth or {"action": "authenticate",
                                      "data": {"key_id": "SIMKEY", "secret_key": "SIMSECRET"}}))
    reply = json.loads(await ws.recv())
    assert reply["data"]["status"] == "authorized", reply
    await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
    assert json.loads(await ws.recv()) == {"stream": "listening", "data": {"streams": ["trade_updates"]}}
    return ws


def market(symbol: str = "AAPL", qty: Any = "1", side: str = "buy", **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "side": side, "type": "market", "time_in_force": "day", **extra}


def limit(symbol: str, qty: Any, price: Any, side: str = "buy", tif: str = "gtc", **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "side": side, "type": "limit", "time_in_force": tif,
            "limit_price": price, **extra}
