"""The simulator's admin API: loopback by default, state changes only with the admin bearer token."""

from __future__ import annotations

import httpx
import pytest

from simulator.admin import ADMIN_TOKEN_ENV
from simulator.cli import cli_main
from simulator.testing import SimulatorProcess, running_simulator


async def test_state_changes_need_the_token_and_reads_do_not() -> None:
    async with running_simulator(admin_token="sekrit-admin") as sim, httpx.AsyncClient(
            base_url=sim.base_url) as http:
        before = (await http.get("/_sim/clock")).json()["now"]
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "sekrit-admin"}):
            refused = await http.post("/_sim/clock/advance", json={"seconds": "600"}, headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert (await http.put("/_sim/faults", json={"error_rate": 1}, headers=headers)).status_code == 401
        assert (await http.get("/_sim/clock")).json()["now"] == before  # nothing moved
        assert (await sim.admin.faults())["error_rate"] == 0
        assert (await sim.admin.advance(600))["now"] != before  # the admin client sends the token
        allowed = await http.post("/_sim/clock/advance", json={"seconds": "1"},
                                  headers={"Authorization": "Bearer sekrit-admin"})
        assert allowed.status_code == 200


def test_a_simulator_process_takes_its_token_from_the_environment() -> None:
    with SimulatorProcess(autotick=False) as proc:
        assert proc.base_url.startswith("http://127.0.0.1:")
        refused = httpx.post(f"{proc.base_url}/_sim/reset", json={}, timeout=5)
        assert refused.status_code == 401
        assert proc.admin.reset()["reset"] is True


def test_binding_beyond_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        cli_main(["--host", "0.0.0.0", "--port", "0"])
    assert exited.value.code == 2 and ADMIN_TOKEN_ENV in capsys.readouterr().err
