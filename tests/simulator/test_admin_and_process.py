"""Admin API, autotick, configuration files and the subprocess helper."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx

from simulator.config import default_config, load_config
from simulator.testing import SimulatorHandle, SimulatorProcess, running_simulator, simulator_in_thread
from tests.simulator.conftest import limit, market
from tests.simulator.helpers import frozen_config


async def test_admin_creates_accounts_with_keys_positions_and_tokens(sim: SimulatorHandle) -> None:
    created = await sim.admin.create_account("IRA9", "ira", "2500", key="K9", secret="S9", tokens=["T9"],
                                             positions={"AAPL": 3})
    assert created["type"] == "ira" and created["positions"]["AAPL"]["qty"] == "3"
    async with httpx.AsyncClient(base_url=sim.base_url, headers={"Authorization": "Bearer T9"}) as http:
        account = (await http.get("/v2/account")).json()
        assert account["cash"] == "2500" and account["multiplier"] == "1"
        assert (await http.get("/v2/positions")).json()[0]["qty"] == "3"
        short = await http.post("/v2/orders", json=market("MSFT", side="sell"))
        assert short.status_code == 403


async def test_admin_clock_prices_events_and_reset(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    clock = await sim.admin.advance(30)
    assert clock["now"] == "2026-03-02T15:00:30.000000000Z" and clock["ticks"] == 30
    await client.post("/v2/orders", json=limit("AAPL", 1, 150))
    priced = await sim.admin.set_price("AAPL", "149")
    assert (priced["bid"], priced["ask"]) == ("148.99", "149.01")
    events = await sim.admin.events("ACC1")
    assert [e["event"] for e in events] == ["new", "fill"] and events[1]["seq"] == 2
    state = await sim.admin.state()
    assert {a["id"] for a in state["accounts"]} == {a.id for a in default_config().accounts}  # ACC1-3, FX1, ...
    await sim.admin.reset()
    assert (await sim.admin.orders())["orders"] == []
    assert (await sim.admin.clock())["now"] == "2026-03-02T15:00:00.000000000Z"


async def test_autotick_moves_the_market_by_itself() -> None:
    async with running_simulator(seed=3, autotick=True) as sim:
        await sim.admin.autotick(True, interval_s=0.05)
        before = (await sim.admin.clock())["now"]
        await asyncio.sleep(0.4)
        after = (await sim.admin.clock())["now"]
        assert after > before


def test_sync_thread_helper_and_reproducible_seeds() -> None:
    def prices(seed: int) -> list[str]:
        with simulator_in_thread(seed=seed) as sim:
            sim.admin.advance(300)
            return [p["price"] for p in sim.admin.prices()]

    assert prices(11) == prices(11)
    assert prices(11) != prices(12)


def test_config_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"seed": 9, "accounts": [{"id": "X", "type": "cash", "cash": "10",
                                                         "keys": [{"key": "a", "secret": "b"}]}]}))
    config = load_config(path)
    assert config.seed == 9 and config.accounts[0].id == "X"
    assert len(config.instruments) == len(default_config().instruments)  # the defaults fill in
    assert frozen_config().autotick is False


async def test_subprocess_runs_standalone_and_can_be_killed() -> None:
    async with SimulatorProcess(seed=5, autotick=False) as proc:
        headers = {"APCA-API-KEY-ID": "SIMKEY", "APCA-API-SECRET-KEY": "SIMSECRET"}
        async with httpx.AsyncClient(base_url=proc.base_url, headers=headers) as http:
            assert (await http.get("/v2/account")).json()["cash"] == "100000"
            response = await http.post("/v2/orders", json=market("SPY", client_order_id="p-1"))
            assert response.status_code == 200
        view = await asyncio.to_thread(proc.admin.orders)
        assert list(view["by_client_order_id"]) == ["p-1"]
        proc.kill()
        assert proc.proc is not None and proc.proc.returncode == -signal.SIGKILL
