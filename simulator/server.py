"""Serve the simulator with uvicorn: in the foreground (CLI) or on a pre-bound socket (tests)."""

from __future__ import annotations

import asyncio
import logging
import socket
from decimal import Decimal

import uvicorn

from simulator.app import build_app
from simulator.config import SimConfig, default_config
from simulator.runtime import SimulatorRuntime

__all__ = ["bind_socket", "make_server", "run", "serve"]


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind a listening socket (port 0 picks a free port) before the server starts: no port race."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit TCP_NODELAY on Linux; without it Nagle + delayed ACK cost ~40 ms a response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def make_server(sim: SimulatorRuntime, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(sim), http="h11", ws="websockets-sansio", lifespan="on", log_level=log_level,
        access_log=False, timeout_graceful_shutdown=2, ws_ping_interval=20, ws_ping_timeout=20,
    )
    return uvicorn.Server(config)


async def serve(sim: SimulatorRuntime, sock: socket.socket, log_level: str = "warning") -> None:
    await make_server(sim, log_level).serve(sockets=[sock])


def run(
    host: str = "127.0.0.1", port: int = 8765, seed: int = 42, config: SimConfig | None = None,
    autotick: bool | None = None, log_level: str = "info", ready_line: bool = True,
) -> None:
    """Run a simulator in the foreground until interrupted; `port=0` picks a free port."""
    config = config or default_config(seed)
    if autotick is not None:
        config = config.model_copy(update={"autotick": autotick})
    if config.tick_seconds <= 0:
        config = config.model_copy(update={"tick_seconds": Decimal(1)})
    sim = SimulatorRuntime(config)
    sock = bind_socket(host, port)
    bound = sock.getsockname()[1]
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if ready_line:
        print(f"SIMULATOR READY http://{host}:{bound} ws://{host}:{bound}/stream", flush=True)
    asyncio.run(serve(sim, sock, log_level))
