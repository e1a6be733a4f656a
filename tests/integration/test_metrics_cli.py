"""`brokerflow metrics` as a subprocess, after real orders through Alpaca and Tradier on the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import running_simulator
from starter.orders import OrderClient
from tests.integration.test_cli import CliStack, cli_env
from tests.integration.test_order_flow import register, request
from worker import running_worker

PNG = b"\x89PNG\r\n\x1a\n"


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, database_url: str, repositories: Repositories,
                task_queue: str, credentials_key: str, tmp_path: Path) -> AsyncIterator[CliStack]:
    async with running_simulator(autotick=True) as sim:
        await register(repositories, "alpaca-sim", sim.base_url, "SIMKEY", "SIMSECRET")
        await repositories.connections.save(BrokerConnection(connection_id="tradier-sim", broker="tradier",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials("tradier-sim",
                                                        ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
        async with running_worker(temporal_env.client, repositories, task_queue):
            yield CliStack(sim, repositories, cli_env(temporal_env, database_url, task_queue, credentials_key,
                                                      tmp_path))


async def test_metrics_by_broker_symbol_and_day_with_a_plot(
        stack: CliStack, temporal_env: WorkflowEnvironment, task_queue: str, tmp_path: Path) -> None:
    empty = await stack.run("metrics", "--json")
    assert empty.code == 0, empty.err
    assert empty.json()["aggregates"] == [] and empty.json()["orders_count"] == 0

    orders = OrderClient(temporal_env.client, task_queue)
    done = []
    for symbol, side, quantity, conn in (("AAPL", "BUY", 10, "alpaca-sim"), ("AAPL", "SELL", 10, "alpaca-sim"),
                                         ("MSFT", "BUY", 4, "tradier-sim")):
        cid = await orders.submit(request(symbol=symbol, side=side, quantity=quantity, connection_id=conn))
        assert (await orders.wait(cid, timeout=30)).view.status == "FILLED"
        done.append(cid)

    by_broker = await stack.run("metrics", "--json", "--orders")
    assert by_broker.code == 0, by_broker.err
    report = by_broker.json()
    assert report["by"] == "broker" and report["orders_count"] == 3
    groups = {g["key"]: g for g in report["aggregates"]}
    assert set(groups) == {"alpaca", "tradier"}
    alpaca, tradier = groups["alpaca"], groups["tradier"]
    assert (alpaca["orders"], alpaca["filled_orders"], Decimal(alpaca["fill_rate"])) == (2, 2, Decimal(1))
    assert tradier["orders"] == 1 and Decimal(tradier["filled_quantity"]) == 4
    assert alpaca["median_ack_latency_ms"] is not None and alpaca["avg_slippage_bps"] is not None
    # The sale paid the SEC fee and FINRA TAF: fees per share are the stored fees over the filled shares.
    stored = [await stack.repos.orders.get(cid) for cid in done]
    fees = sum((o.fees for o in stored if o is not None), Decimal(0))
    assert Decimal(alpaca["fees"]) == fees > 0
    assert Decimal(alpaca["fees_per_share"]) == (fees / 20).quantize(Decimal("0.000001"))
    per_order = {o["client_order_id"]: o for o in report["orders"]}
    assert set(per_order) == set(done)
    sale = per_order[done[1]]
    assert sale["broker"] == "alpaca" and Decimal(sale["fees_per_share"]) > 0 and sale["slippage_bps"] is not None
    assert sale["ack_latency_ms"] is not None and sale["time_to_complete_ms"] is not None

    by_symbol = (await stack.run("metrics", "--by", "symbol", "--json")).json()
    assert [g["key"] for g in by_symbol["aggregates"]] == ["AAPL", "MSFT"]
    by_day = (await stack.run("metrics", "--by", "day", "--since", "1d", "--json")).json()
    assert len(by_day["aggregates"]) in (1, 2) and sum(g["orders"] for g in by_day["aggregates"]) == 3
    future = (await stack.run("metrics", "--since", "2100-01-01", "--json")).json()
    assert future["orders_count"] == 0

    table = await stack.run("metrics", "--by", "account")
    assert table.code == 0 and "Execution metrics by account (3 orders)" in table.out

    plot = tmp_path / "plots" / "metrics.png"
    drawn = await stack.run("metrics", "--plot", str(plot))
    assert drawn.code == 0, drawn.err
    assert f"plot written to {plot}" in drawn.out.replace("\n", "")
    assert plot.read_bytes().startswith(PNG) and plot.stat().st_size > 10_000


async def test_bad_options_are_refused(stack: CliStack) -> None:
    bad_by = await stack.run("metrics", "--by", "venue")
    assert bad_by.code == 2 and "venue" in bad_by.err
    bad_since = await stack.run("metrics", "--since", "last tuesday")
    assert bad_since.code == 2 and "--since must be like" in bad_since.err
