"""One bench stack: the dev server with the WAL settings and embedded PostgreSQL (as `brokerflow dev up`
starts them, in a throwaway data dir on free ports), the simulator as its own process with no added
latency, our worker and the baseline worker in this process, and the connections the sections use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.connection_models import SupervisorConfig
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories, open_repositories
from simulator.testing import SimulatorProcess
from starter.connections import ConnectionClient
from starter.devstack import StackInfo, start_stack, stop_stack
from starter.orders import OrderClient
from starter.settings import Settings
from worker import RunningWorker, running_worker

from .baseline import BaselineWorkflow, noop
from .probe import Probe

__all__ = ["DIRECT", "POLLED", "STREAMED", "BenchStack", "CpuMeter", "bench_stack"]

STREAMED, DIRECT, POLLED = "bench", "bench-direct", "bench-poll"
# connection -> simulator account keys; each connection has its own account, so streams do not overlap.
_KEYS = {STREAMED: ("SIMKEY", "SIMSECRET"), DIRECT: ("SIMKEY2", "SIMSECRET2"), POLLED: ("SIMKEY3", "SIMSECRET3")}
TASK_QUEUE = "bench-orders"


@dataclass
class BenchStack:
    """Everything a section needs."""

    settings: Settings
    info: StackInfo
    sim: SimulatorProcess
    repos: Repositories
    client: Client
    probe: Probe
    worker: RunningWorker
    orders: OrderClient
    connections: ConnectionClient
    baseline_queue: str
    concurrency: int

    def cpu_meter(self) -> CpuMeter:
        """CPU time of the worker (this process), the Temporal server, PostgreSQL and the simulator."""
        return CpuMeter({"worker": os.getpid(), "temporal server": self.info.temporal_pid,
                         "postgresql": self.info.postgres_pid, "simulator": self.sim.pid}, with_children={"postgresql"})


class CpuMeter:
    """CPU seconds (user + system) of named processes, read twice to get a rate.

    Only PostgreSQL counts its children (the backends): the bench process is the parent of the dev server,
    the simulator and py-spy, whose time must not be charged to the worker.
    """

    def __init__(self, pids: dict[str, int | None], with_children: Collection[str] = ()) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.with_children = with_children
        self._start: dict[str, float] = {}
        self._at = 0.0

    def start(self) -> None:
        self._start, self._at = self._read(), time.perf_counter()

    def percent(self) -> dict[str, float]:
        """CPU use since start(), in % of one core."""
        elapsed = max(time.perf_counter() - self._at, 1e-9)
        return {name: 100 * used / elapsed for name, used in self.seconds().items()}

    def seconds(self) -> dict[str, float]:
        """CPU seconds used since start()."""
        now = self._read()
        return {name: now[name] - self._start.get(name, 0.0) for name in now}

    def _read(self) -> dict[str, float]:
        return {name: _cpu_seconds(pid, name in self.with_children) for name, pid in self.pids.items()}


def _cpu_seconds(pid: int, children: bool) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)] if children else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    if children:  # backends that exited meanwhile: their time moved to the parent's children_* counters
        with contextlib.suppress(psutil.Error):
            reaped = root.cpu_times()
            total += reaped.children_user + reaped.children_system
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sim_config(path: Path) -> Path:
    """Three margin accounts with room for 10,000 resting orders, and no rate limit in the way."""
    accounts = [{"id": f"ACC{n}", "type": "margin", "cash": "10000000", "tokens": [f"SIMTOKEN{n}"],
                 "keys": [{"key": key, "secret": secret}]} for n, (key, secret) in enumerate(_KEYS.values(), 1)]
    path.write_text(json.dumps({"seed": 7, "rate_limit_per_minute": 1_000_000, "accounts": accounts}))
    return path


async def _register(repos: Repositories, base_url: str) -> None:
    for connection_id, (key, secret) in _KEYS.items():
        await repos.connections.save(BrokerConnection(connection_id=connection_id, broker="alpaca",
                                                      base_url=base_url))
        await repos.connections.save_credentials(connection_id, ConnectionCredentials(api_key=key, api_secret=secret))


async def _freeze_prices(sim: SimulatorProcess) -> None:
    """Pin every price (volatility 0): fills at one price keep position averages short decimals.

    With moving prices the simulator's average entry price grows to 28 digits and the adapter refuses
    the account ("decimal out of range"), failing every later pre-trade check (see docs/benchmarks.md).
    """
    quotes: list[dict[str, str]] = await asyncio.to_thread(sim.admin.prices)  # [{"symbol", "price", ...}]
    for quote in quotes:
        await asyncio.to_thread(sim.admin.set_price, quote["symbol"], quote["price"], 0)


async def _supervise(connections: ConnectionClient, timeout: float = 60.0) -> None:
    """Start the streamed connection's supervisor and wait until its trade stream runs."""
    await connections.up(STREAMED, SupervisorConfig())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            health = await connections.health(STREAMED)
            if str(health.status) == "CONNECTED" and health.stream_running:
                await asyncio.sleep(1.0)  # the websocket subscribes just after the activity starts
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"supervisor of {STREAMED} did not get its stream running in {timeout:.0f}s")


@contextlib.asynccontextmanager
async def bench_stack(*, concurrency: int, keep: bool = False, say: object = print) -> AsyncIterator[BenchStack]:
    """Bring the whole stack up in a throwaway data dir; tear it all down (and delete it) afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="brokerflow-bench-"))
    settings = Settings(data_dir=data_dir, database_url=None, temporal_address=None, task_queue=TASK_QUEUE,
                        temporal_port=_free_port(), temporal_ui_port=_free_port(),
                        max_concurrent_activities=100, max_concurrent_workflow_tasks=100)
    info = await asyncio.to_thread(start_stack, settings)
    sim = SimulatorProcess(autotick=True, config_path=_sim_config(data_dir / "simulator.json"))
    try:
        await asyncio.to_thread(sim.start)
        await _freeze_prices(sim)
        repos = await open_repositories(info.database_url, data_dir=data_dir)
        try:
            await _register(repos, sim.base_url)
            probe = Probe()
            client = await Client.connect(info.temporal_address, namespace=info.temporal_namespace,
                                          data_converter=pydantic_data_converter, interceptors=[probe])
            async with _workers(client, repos, concurrency) as (running, baseline_queue):
                connections = ConnectionClient(client, TASK_QUEUE)
                await _supervise(connections)
                try:
                    yield BenchStack(settings, info, sim, repos, client, probe, running,
                                     OrderClient(client, TASK_QUEUE), connections, baseline_queue, concurrency)
                finally:
                    with contextlib.suppress(Exception):
                        await connections.down(STREAMED, "bench done", wait=30)
        finally:
            await repos.close()
    finally:
        await asyncio.to_thread(sim.stop)
        await asyncio.to_thread(stop_stack, settings)
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def _workers(client: Client, repos: Repositories, concurrency: int
                   ) -> AsyncIterator[tuple[RunningWorker, str]]:
    """Our worker (as `brokerflow worker` builds it) and the baseline's, with the same limits."""
    baseline_queue = f"{TASK_QUEUE}-baseline"
    baseline = Worker(client, task_queue=baseline_queue, workflows=[BaselineWorkflow], activities=[noop],
                      max_concurrent_activities=100, max_concurrent_workflow_tasks=100,
                      graceful_shutdown_timeout=timedelta(seconds=5))
    async with running_worker(client, repos, TASK_QUEUE, max_concurrent_activities=100,
                              max_concurrent_workflow_tasks=100) as running, baseline:
        yield running, baseline_queue
