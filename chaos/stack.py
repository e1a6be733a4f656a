"""The chaos stack: the whole product as separate processes, each of which the run can break.

The Temporal dev server (on its SQLite file, so a restart keeps every workflow) and embedded PostgreSQL
as `brokerflow dev up` starts them, the simulator as its own process, and N `brokerflow worker` processes
on one task queue. Two connections over three accounts: Alpaca (a margin and a cash account, two key
pairs) and Tradier (a margin account, bearer token).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from activities.connection_models import SupervisorConfig
from brokers.registry import GatewayRegistry
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from domain.broker_integration.value_objects import AccountKey
from persistence import Repositories, open_repositories
from simulator.testing import SimulatorProcess
from starter import localpg, localtemporal
from starter.accounts import sync_connection
from starter.connections import ConnectionClient
from starter.devstack import StackInfo, start_stack, stop_stack
from starter.orders import OrderClient
from starter.paths import StackPaths, read_state
from starter.processes import is_alive
from starter.settings import Settings

__all__ = ["ALPACA", "SYMBOLS", "TRADIER", "Account", "ChaosStack", "WorkerProcess", "chaos_stack"]

TASK_QUEUE = "chaos-orders"
ALPACA, TRADIER = "chaos-alpaca", "chaos-tradier"
SYMBOLS = {"AAPL": "187.50", "MSFT": "410.20", "SPY": "512.30", "TSLA": "201.10", "AMZN": "178.25"}
_HOLDING = 1_000_000  # shares of each symbol per account: sells never run out


@dataclass(frozen=True)
class Account:
    """An account orders are sent to: its connection and the simulator's id for it."""

    connection_id: str
    sim_id: str
    account_id: str | None = None  # ours (discovered); None until the supervisor has listed the accounts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sim_config(path: Path, seed: int) -> Path:
    positions = {symbol: {"qty": str(_HOLDING), "avg_entry_price": price} for symbol, price in SYMBOLS.items()}
    def account(n: int, **auth: object) -> dict[str, object]:
        return {"id": f"ACC{n}", "account_number": f"CHAOSACC{n}", "type": "margin", "cash": "50000000",
                "positions": positions, **auth}

    accounts = [account(1, keys=[{"key": "SIMKEY", "secret": "SIMSECRET"}]),
                account(2, keys=[{"key": "SIMKEY2", "secret": "SIMSECRET2"}]),
                account(3, tokens=["SIMTOKEN3"])]
    instruments = [{"symbol": s, "price": p, "volatility": "0"} for s, p in SYMBOLS.items()]
    path.write_text(json.dumps({"seed": seed, "rate_limit_per_minute": 1_000_000, "accounts": accounts,
                                "instruments": instruments}))
    return path


@dataclass
class WorkerProcess:
    """One `brokerflow worker` process; SIGKILL it and start it again."""

    index: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", "import worker; worker.main()"], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=Path(__file__).resolve().parent.parent)
        self.starts += 1

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class ChaosStack:
    """Every part of the run, and the means to break and mend each."""

    settings: Settings
    info: StackInfo
    sim: SimulatorProcess
    repos: Repositories
    orders: OrderClient
    connections: ConnectionClient
    workers: list[WorkerProcess]
    accounts: list[Account] = field(default_factory=list)
    token_refresh: bool = False

    @property
    def paths(self) -> StackPaths:
        return StackPaths.of(self.settings)

    async def restart_temporal(self, down_seconds: float = 2.0) -> None:
        """Stop the dev server (its SQLite file stays) and start it again on the same port."""
        pid = read_state(self.paths)["temporal"]["pid"]
        await asyncio.to_thread(localtemporal.stop_dev_server, self.paths, pid)
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(start_stack, self.settings, migrate=False)

    async def restart_postgres(self, down_seconds: float = 2.0) -> None:
        """Stop PostgreSQL (fast shutdown: sessions are cut) and start it again on the same data."""
        pid = read_state(self.paths)["postgres"]["pid"]
        await asyncio.to_thread(localpg.stop_embedded, self.paths.pgdata, pid)
        await asyncio.sleep(down_seconds)
        await asyncio.to_thread(start_stack, self.settings, migrate=False)

    async def kill_worker(self, index: int, down_seconds: float = 2.0) -> None:
        """SIGKILL a worker mid-flight (no graceful shutdown), then start a fresh process."""
        worker = self.workers[index]
        await asyncio.to_thread(worker.kill)
        await asyncio.sleep(down_seconds)
        worker.start()

    async def expire_token(self) -> str:
        """Expire Tradier's access token at the broker (its streams close): the supervisor must refresh it."""
        if not self.token_refresh:
            return "skipped: the simulator issues no refresh tokens"
        credentials = await self.repos.connections.get_credentials(TRADIER)
        assert credentials is not None and credentials.access_token is not None
        await asyncio.to_thread(self.sim.admin.expire_token, credentials.access_token.get_secret_value(), True)
        return "Tradier's access token expired at the broker, its stream closed; the supervisor refreshes it"

    def pids(self) -> dict[str, int | None]:
        state = read_state(self.paths)
        return {"temporal": (state.get("temporal") or {}).get("pid"),
                "postgres": (state.get("postgres") or {}).get("pid"),
                **{f"worker {w.index}": w.proc.pid if w.proc else None for w in self.workers}}

    def all_alive(self) -> bool:
        return all(pid is not None and is_alive(pid) for pid in self.pids().values())


async def _register(repos: Repositories, sim: SimulatorProcess) -> bool:
    """Both connections; Tradier's with an OAuth token pair when the simulator issues refresh tokens.
    Tell whether Tradier's token can be refreshed (then a token expiry is a fault the run can inject)."""
    base_url = sim.base_url
    await repos.connections.save(BrokerConnection(connection_id=ALPACA, broker="alpaca", base_url=base_url))
    await repos.connections.save_credentials(ALPACA, ConnectionCredentials(
        api_key="SIMKEY", api_secret=SecretStr("SIMSECRET"),
        additional_keys=(AccountKey(api_key="SIMKEY2", api_secret=SecretStr("SIMSECRET2")),)))
    await repos.connections.save(BrokerConnection(connection_id=TRADIER, broker="tradier", base_url=base_url))
    issued = await asyncio.to_thread(sim.admin.issue_token, "ACC3", None, 3600)
    if not issued.get("refresh_token"):
        await repos.connections.save_credentials(TRADIER, ConnectionCredentials(access_token=SecretStr("SIMTOKEN3")))
        return False
    await repos.connections.save_credentials(TRADIER, ConnectionCredentials(
        api_key="SIMCLIENT", api_secret=SecretStr("SIMCLIENTSECRET"), access_token=SecretStr(issued["token"]),
        refresh_token=SecretStr(issued["refresh_token"]), token_expires_at=datetime.now(UTC) + timedelta(hours=1)))
    return True


async def _supervise(stack: ChaosStack, timeout: float = 90.0) -> None:
    """Start both supervisors; wait until each has its stream running and its accounts listed."""
    for connection_id in (ALPACA, TRADIER):
        await stack.connections.up(connection_id, SupervisorConfig())
    deadline = time.monotonic() + timeout
    pending = {ALPACA, TRADIER}
    while pending and time.monotonic() < deadline:
        for connection_id in list(pending):
            with contextlib.suppress(Exception):
                health = await stack.connections.health(connection_id)
                if str(health.status) == "CONNECTED" and health.stream_running:
                    pending.discard(connection_id)
        await asyncio.sleep(0.3)
    if pending:
        raise RuntimeError(f"supervisors of {sorted(pending)} did not get their streams running in {timeout:.0f}s")
    await asyncio.sleep(1.0)  # the websockets subscribe just after the stream activities start


async def _accounts(stack: ChaosStack) -> list[Account]:
    """Our ids of the three accounts: discovered at the broker and merged into the ledger once."""
    wanted = {"ACC1": ALPACA, "ACC2": ALPACA, "ACC3": TRADIER}
    registry = GatewayRegistry(credentials=stack.repos.connections.get_credentials)
    found: dict[str, Account] = {}
    seen: list[str] = []
    try:
        for connection_id in (ALPACA, TRADIER):
            for synced in await sync_connection(stack.repos, registry, connection_id, datetime.now(UTC)):
                account = synced.account
                seen.append(f"{account.account_id} ({account.account_number})")
                sim_id = _sim_id(account.account_id, account.account_number, wanted)
                if sim_id is not None:
                    found[sim_id] = Account(connection_id, sim_id, account.account_id)
    finally:
        await registry.aclose()
    if len(found) < len(wanted):
        raise RuntimeError(f"accounts not discovered: {sorted(set(wanted) - set(found))}; seen {seen}")
    return [found[k] for k in sorted(found)]


def _sim_id(account_id: str, number: str | None, wanted: dict[str, str]) -> str | None:
    for sim_id in wanted:
        if account_id == sim_id or account_id.endswith(sim_id) or (number or "").endswith(sim_id):
            return sim_id
    return None


@contextlib.asynccontextmanager
async def chaos_stack(*, seed: int, workers: int = 2, keep: bool = False) -> AsyncIterator[ChaosStack]:
    """Bring the whole stack up in a throwaway data dir; tear it all down (and delete it) afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="brokerflow-chaos-"))
    settings = Settings(data_dir=data_dir, database_url=None, temporal_address=None, task_queue=TASK_QUEUE,
                        temporal_port=_free_port(), temporal_ui_port=_free_port())
    info = await asyncio.to_thread(start_stack, settings)
    sim = SimulatorProcess(autotick=True, seed=seed, config_path=_sim_config(data_dir / "simulator.json", seed))
    procs: list[WorkerProcess] = []
    try:
        await asyncio.to_thread(sim.start)
        repos = await open_repositories(info.database_url, data_dir=data_dir)
        try:
            token_refresh = await _register(repos, sim)
            env = {**os.environ, "BROKERFLOW_DATA_DIR": str(data_dir), "DATABASE_URL": info.database_url,
                   "TEMPORAL_ADDRESS": info.temporal_address, "BROKERFLOW_TASK_QUEUE": TASK_QUEUE,
                   "BROKERFLOW_LOG_LEVEL": "WARNING"}
            env.pop("BROKERFLOW_METRICS_PORT", None)
            procs = [WorkerProcess(i, env, data_dir / f"worker-{i}.log") for i in range(workers)]
            for proc in procs:
                proc.start()
            orders = await OrderClient.connect(settings)
            connections = ConnectionClient(orders.client, TASK_QUEUE)
            stack = ChaosStack(settings, info, sim, repos, orders, connections, procs, token_refresh=token_refresh)
            await _supervise(stack)
            stack.accounts = await _accounts(stack)
            try:
                yield stack
            finally:
                for connection_id in (ALPACA, TRADIER):
                    with contextlib.suppress(Exception):
                        await connections.down(connection_id, "chaos run done", wait=30)
        finally:
            await repos.close()
    finally:
        for proc in procs:
            await asyncio.to_thread(proc.stop)
        await asyncio.to_thread(sim.stop)
        await asyncio.to_thread(stop_stack, settings)
        if keep:
            print(f"kept the run's data in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
