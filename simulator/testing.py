"""Run the simulator from tests: in-process on a background thread, or as a subprocess that can be SIGKILLed.

    async with running_simulator(autotick=False) as sim:
        await sim.admin.set_price("AAPL", "190")
        httpx.post(f"{sim.base_url}/v2/orders", headers=sim.headers(), json={...})
        await sim.admin.advance(5)

    with SimulatorProcess(seed=7) as proc:      # blocking start; `async with` works too
        proc.admin.advance(60)
        proc.kill()

Each simulator started here requires an admin token for state changes (a fresh random one unless given);
the `admin` clients send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.admin import ADMIN_TOKEN_ENV, protect
from simulator.admin_client import AdminClient, SyncAdminClient
from simulator.config import SimConfig, default_config
from simulator.runtime import SimulatorRuntime
from simulator.server import bind_socket, make_server

__all__ = [
    "AdminClient",
    "SimulatorHandle",
    "SimulatorProcess",
    "SimulatorThread",
    "SyncAdminClient",
    "running_simulator",
    "simulator_in_thread",
]

DEFAULT_KEYS = {"ACC1": ("SIMKEY", "SIMSECRET"), "ACC2": ("SIMKEY2", "SIMSECRET2"), "ACC3": ("SIMKEY3", "SIMSECRET3")}


@dataclass
class SimulatorHandle:
    """What a test needs: the REST base URL (no trailing slash), the stream URL and an admin client."""

    base_url: str
    ws_url: str
    admin: Any
    runtime: SimulatorRuntime | None = None
    keys: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(DEFAULT_KEYS))
    admin_token: str | None = field(default=None, repr=False)

    def headers(self, account_id: str = "ACC1") -> dict[str, str]:
        """Alpaca key headers for one of the configured accounts."""
        key, secret = self.keys[account_id]
        return {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}


def _token(token: str | None) -> str:
    return token or secrets.token_urlsafe(16)


def _config(config: SimConfig | None, seed: int, autotick: bool) -> SimConfig:
    base = config or default_config(seed)
    return base.model_copy(update={"autotick": autotick})


class SimulatorThread:
    """A simulator served by uvicorn on its own thread and event loop, on a free port of `host`."""

    def __init__(self, config: SimConfig | None = None, *, seed: int = 42, autotick: bool = False,
                 host: str = "127.0.0.1", port: int = 0, admin_token: str | None = None) -> None:
        self.runtime = SimulatorRuntime(_config(config, seed, autotick))
        self.admin_token = _token(admin_token)
        protect(self.runtime, self.admin_token)
        self._sock = bind_socket(host, port)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._server = make_server(self.runtime)
        self._thread = threading.Thread(target=self._serve, name=f"simulator-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/stream"

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 10.0) -> SimulatorThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        with contextlib.suppress(OSError):
            self._sock.close()


@contextlib.asynccontextmanager
async def running_simulator(
    config: SimConfig | None = None, *, seed: int = 42, autotick: bool = False, host: str = "127.0.0.1",
    admin_token: str | None = None,
) -> AsyncIterator[SimulatorHandle]:
    """Run a simulator in-process (background thread) for the duration of the block."""
    server = SimulatorThread(config, seed=seed, autotick=autotick, host=host, admin_token=admin_token)
    await asyncio.to_thread(server.start)
    admin = AdminClient(server.base_url, token=server.admin_token)
    try:
        yield SimulatorHandle(server.base_url, server.ws_url, admin, server.runtime, _keys(server.runtime),
                              server.admin_token)
    finally:
        await admin.aclose()
        await asyncio.to_thread(server.stop)


@contextlib.contextmanager
def simulator_in_thread(
    config: SimConfig | None = None, *, seed: int = 42, autotick: bool = False, host: str = "127.0.0.1",
    admin_token: str | None = None,
) -> Iterator[SimulatorHandle]:
    """Synchronous twin of running_simulator (admin is a SyncAdminClient)."""
    server = SimulatorThread(config, seed=seed, autotick=autotick, host=host, admin_token=admin_token).start()
    admin = SyncAdminClient(server.base_url, token=server.admin_token)
    try:
        yield SimulatorHandle(server.base_url, server.ws_url, admin, server.runtime, _keys(server.runtime),
                              server.admin_token)
    finally:
        admin.close()
        server.stop()


def _keys(runtime: SimulatorRuntime) -> dict[str, tuple[str, str]]:
    return {a.id: (a.keys[0].key, a.keys[0].secret) for a in runtime.config.accounts if a.keys}


class SimulatorProcess:
    """`python -m simulator` as a child process (survives the test's own crashes; can be SIGKILLed)."""

    def __init__(self, *, seed: int = 42, autotick: bool = True, host: str = "127.0.0.1", port: int = 0,
                 config_path: str | Path | None = None, extra_args: Sequence[str] = (),
                 python: str = sys.executable, admin_token: str | None = None) -> None:
        self.admin_token = _token(admin_token)
        args = [python, "-m", "simulator", "--host", host, "--port", str(port), "--seed", str(seed)]
        if not autotick:
            args.append("--no-autotick")
        if config_path is not None:
            args += ["--config", str(config_path)]
        self.args = [*args, *extra_args]
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.ws_url = ""
        self.output: list[str] = []
        self._admin: SyncAdminClient | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def admin(self) -> SyncAdminClient:
        if self._admin is None:
            self._admin = SyncAdminClient(self.base_url, token=self.admin_token)
        return self._admin

    def start(self, timeout: float = 20.0) -> SimulatorProcess:
        """Start the child and wait for its READY line (it binds the port itself: no race)."""
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
               ADMIN_TOKEN_ENV: self.admin_token}
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env, cwd=root)
        ready = threading.Event()
        threading.Thread(target=self._drain, args=(ready,), daemon=True).start()
        if not ready.wait(timeout):
            self.stop()
            raise RuntimeError("simulator process did not start:\n" + "".join(self.output))
        httpx.get(f"{self.base_url}/_sim/health", timeout=5).raise_for_status()
        return self

    def _drain(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if line.startswith("SIMULATOR READY"):
                _, _, self.base_url, self.ws_url = line.split()
                ready.set()

    def kill(self) -> None:
        """SIGKILL the child (no cleanup at all)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout: float = 5.0) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimulatorProcess:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
