"""The worker is SIGKILLed while a submission is in flight; a new worker finishes the order, exactly once.

Real processes throughout: the Temporal dev server, PostgreSQL, the simulator and the worker (`python worker.py`)
each run on their own; the simulator accepts the order but holds its response, so the kill lands mid-submit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorProcess
from starter.orders import OrderClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(autotick=True) as sim:
        yield sim


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def worker_env(temporal_env: WorkflowEnvironment, database_url: str, key: str, queue: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
        "DATABASE_URL": database_url,
        "BROKERFLOW_SECRET_KEY": key,
        "BROKERFLOW_TASK_QUEUE": queue,
        "BROKERFLOW_DATA_DIR": str(tmp),
        "PYTHONPATH": str(ROOT),
    }


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_submit_then_new_worker_finishes_exactly_once(
    temporal_env: WorkflowEnvironment, repositories: Repositories, database_url: str, credentials_key: str,
    task_queue: str, simulator: SimulatorProcess, tmp_path: Path,
) -> None:
    await repositories.connections.save(
        BrokerConnection(connection_id="alpaca-sim", broker="alpaca", base_url=simulator.base_url))
    await repositories.connections.save_credentials(
        "alpaca-sim", ConnectionCredentials(api_key="SIMKEY", api_secret="SIMSECRET"))
    simulator.admin.set_liquidity("AAPL", 4)  # several fills, spread over ticks
    simulator.admin.set_faults(drop_responses=1, drop_mode="delay", drop_delay_s=60, drop_match="POST /v2/orders")
    env = worker_env(temporal_env, database_url, credentials_key, task_queue, tmp_path)
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        client = OrderClient(temporal_env.client, task_queue)
        cid = await client.submit(OrderRequest(client_order_id="crash-1", symbol="AAPL", side="BUY", quantity=10,
                                               connection_id="alpaca-sim", poll_interval_seconds=0.5))
        await wait_until(lambda: simulator.admin.orders()["submissions"].get(cid), 30, "the broker to receive it")
        os.killpg(first.pid, signal.SIGKILL)  # mid-submit: the broker holds the order, the response never came
        first.wait(10)
        second = start_worker(env, log)
        try:
            outcome = await client.wait(cid, timeout=90)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    view = simulator.admin.orders()
    assert len(view["submissions"][cid]) == 1, "the broker must see the order exactly once"
    assert len(view["by_client_order_id"][cid]) == 1
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    broker_fills = [a for a in simulator.admin.activities("ACC1") if a.get("order_id") ==
                    view["by_client_order_id"][cid][0]["id"] and a.get("activity_type") == "FILL"]
    stored = await repositories.executions.list_for_order(cid)
    assert sorted(e.execution_id for e in stored) == sorted({e.execution_id for e in stored})
    assert len(stored) == len(broker_fills) >= 2
    order = await repositories.orders.get(cid)
    assert order is not None and order.status == "FILLED" and order.filled_quantity == 10
