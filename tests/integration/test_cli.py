"""The `brokerflow` CLI end to end: a real subprocess against Temporal, PostgreSQL, a worker and the simulator.

CLI runs are slow (a Python start each), so the two tests share a handful of invocations.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorHandle

ROOT = Path(__file__).resolve().parents[2]
VIEW_KEYS = {"client_order_id", "status", "filled_qty", "avg_fill_price", "broker_order_id", "ui_url"}


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, self.err
        return json.loads(self.out)


@dataclass
class CliStack:
    sim: SimulatorHandle
    repos: Repositories
    env: dict[str, str]

    async def run(self, *args: str, **extra_env: str) -> Run:
        """Run `python -m starter.cli ARGS` without a terminal (so it can never prompt)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter.cli", *args, cwd=ROOT, env=self.env | extra_env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        return Run(proc.returncode or 0, out.decode(), err.decode())

    async def broker_orders(self, client_order_id: str) -> list[dict[str, Any]]:
        view = await self.sim.admin.orders()
        return [o for o in view["orders"] if o["client_order_id"].split("~")[0] == client_order_id]


def cli_env(temporal_env: WorkflowEnvironment, database_url: str, task_queue: str, key: str, data_dir: Path
            ) -> dict[str, str]:
    """The environment of a CLI run: this test's servers and queue, no stray brokerflow or broker variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BROKERFLOW_", "APCA_")) and k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    return env | {
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "BROKERFLOW_TASK_QUEUE": task_queue,
        "BROKERFLOW_SECRET_KEY": key,
        "BROKERFLOW_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
    }


async def test_connection_add_then_a_market_order_fills(stack: CliStack) -> None:
    added = await stack.run("connection", "add", "alpaca-sim", "--broker", "alpaca", "--base-url",
                            stack.sim.base_url, "--verify", "--json",
                            APCA_API_KEY_ID="SIMKEY", APCA_API_SECRET_KEY="SIMSECRET")
    record = added.json()
    assert record["verified"] is True and record["environment"] == "PAPER" and record["credentials"] == "stored"
    assert record["credentials_from"] == ["api_key: APCA_API_KEY_ID", "api_secret: APCA_API_SECRET_KEY"]
    stored = await stack.repos.connections.get_credentials("alpaca-sim")
    assert stored is not None and stored.api_key == "SIMKEY"

    listed = await stack.run("connection", "list", "--json")
    assert [(c["connection_id"], c["broker"], c["base_url"], c["credentials"]) for c in listed.json()] == [
        ("alpaca-sim", "alpaca", stack.sim.base_url, "stored")]
    for run in (added, listed):
        assert "SIMSECRET" not in run.out + run.err

    cid = f"cli-{uuid.uuid4().hex[:10]}"
    submitted = await stack.run("order", "submit", "--symbol", "aapl", "--side", "buy", "--qty", "10",
                                "--connection", "alpaca-sim", "--client-order-id", cid, "--wait", "--json")
    view = submitted.json()
    assert view.keys() >= VIEW_KEYS
    assert (view["client_order_id"], view["status"], view["filled_qty"]) == (cid, "FILLED", "10")
    assert view["ui_url"].endswith(f"/namespaces/default/workflows/order-{cid}")
    assert view["ui_url"] in submitted.err  # announced before waiting
    broker = await stack.broker_orders(cid)
    assert len(broker) == 1 and Decimal(view["avg_fill_price"]) == Decimal(broker[0]["filled_avg_price"])
    assert view["broker_order_id"] == broker[0]["id"]

    status = (await stack.run("order", "status", cid, "--json", "--executions")).json()
    assert {k: status[k] for k in VIEW_KEYS} == {k: view[k] for k in VIEW_KEYS}
    assert sum(Decimal(e["quantity"]) for e in status["executions"]) == Decimal("10")

    table = await stack.run("order", "status", cid)
    assert table.code == 0 and "FILLED" in table.out and cid in table.out and view["ui_url"] in table.out


async def test_limit_order_amend_cancel_watch_and_list(stack: CliStack) -> None:
    await stack.repos.connections.save(
        BrokerConnection(connection_id="alpaca-sim", broker="alpaca", base_url=stack.sim.base_url))
    await stack.repos.connections.save_credentials(
        "alpaca-sim", ConnectionCredentials(api_key="SIMKEY", api_secret="SIMSECRET"))
    cid = f"cli-{uuid.uuid4().hex[:10]}"
    acked = await stack.run("order", "submit", "--symbol", "SPY", "--side", "buy", "--qty", "5", "--type", "limit",
                            "--limit-price", "1.00", "--connection", "alpaca-sim", "--client-order-id", cid,
                            "--wait-ack", "--json")
    assert acked.json()["status"] in ("SUBMITTED", "ACCEPTED")

    amended = (await stack.run("order", "amend", cid, "--qty", "4", "--limit-price", "1.05",
                               "--update-id", f"{cid}-amend-1", "--json")).json()
    assert amended["accepted"] is True and amended["change"] == "amend" and amended["quantity"] == "4"

    canceled = (await stack.run("order", "cancel", cid, "--reason", "cli test", "--json")).json()
    assert canceled["accepted"] is True and canceled.keys() >= VIEW_KEYS

    watched = await stack.run("order", "watch", cid, "--json", "--interval", "0.5", "--timeout", "30")
    lines = [json.loads(line) for line in watched.out.splitlines()]
    assert watched.code == 0 and lines[-1]["status"] == "CANCELED" and lines[-1]["filled_qty"] == "0"

    again = await stack.run("order", "cancel", cid)
    assert again.code == 1 and "refused" in again.err

    orders = (await stack.run("order", "list", "--json", "--limit", "50")).json()
    mine = [o for o in orders if o["client_order_id"] == cid]
    assert len(mine) == 1 and mine[0]["status"] == "CANCELED" and mine[0]["symbol"] == "SPY"
    broker = await stack.broker_orders(cid)
    assert broker and all(o["status"] in ("replaced", "canceled") for o in broker)
