"""`brokerflow connection add` for OANDA (bearer token) and ccxt (key pair) as a new user runs it."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from persistence import Repositories
from simulator.testing import running_simulator
from tests.integration.test_cli import CliStack, cli_env


async def test_connection_add_for_oanda_and_ccxt(temporal_env: WorkflowEnvironment, database_url: str,
                                                 repositories: Repositories, task_queue: str, credentials_key: str,
                                                 tmp_path: Path) -> None:
    async with running_simulator() as sim:
        cli = CliStack(sim, repositories, cli_env(temporal_env, database_url, task_queue, credentials_key, tmp_path))
        fx = await cli.run("connection", "add", "oanda-cli", "--broker", "oanda", "--base-url", sim.base_url,
                           "--verify", "--json", OANDA_ACCESS_TOKEN="OANDATOKEN")
        assert fx.code == 0, fx.err
        record = fx.json()
        assert record["broker"] == "oanda" and record["auth_method"] == "OAUTH2" and record["verified"] is True
        assert "OANDATOKEN" not in fx.out
        keyed = await cli.run("connection", "add", "oanda-key", "--broker", "oanda", "--auth", "api-key",
                              "--base-url", sim.base_url, OANDA_ACCESS_TOKEN="OANDATOKEN")
        assert keyed.code == 2 and "OAuth access token" in keyed.err

        crypto = await cli.run("connection", "add", "crypto-cli", "--broker", "ccxt", "--base-url", sim.base_url,
                               "--verify", "--json", CCXT_API_KEY="BINANCEKEY", CCXT_API_SECRET="BINANCESECRET")
        assert crypto.code == 0, crypto.err
        record = crypto.json()
        assert record["broker"] == "ccxt" and record["auth_method"] == "API_KEY" and record["verified"] is True
        assert "BINANCESECRET" not in crypto.out and "BINANCESECRET" not in crypto.err
        wrong = await cli.run("connection", "add", "crypto-bad", "--broker", "ccxt", "--base-url", sim.base_url,
                              "--verify", CCXT_API_KEY="BINANCEKEY", CCXT_API_SECRET="nope")
        assert wrong.code != 0 and await repositories.connections.get("crypto-bad") is None
    stored = await repositories.connections.get_credentials("oanda-cli")
    assert stored is not None and stored.secret_values()["access_token"] == "OANDATOKEN"
    stored = await repositories.connections.get_credentials("crypto-cli")
    assert stored is not None and stored.api_key == "BINANCEKEY"
