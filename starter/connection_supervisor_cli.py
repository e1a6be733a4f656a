"""``brokerflow connection up|down|health|pause|resume|reconnect``: run and steer a connection's supervisor.

These commands join the ``connection`` group (``starter.connection_cli`` mounts this app without a name).
Exit codes: 0 done; 1 failed (no supervisor running, change refused, not connected in time, Temporal
unreachable); 2 bad input (unknown connection, bad option): nothing was started or changed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from activities.connection_models import ConnectionHealth, SupervisorConfig
from domain.broker_integration import ConnectionStatus
from starter.connection_views import health_record, show_health, supervisor_url
from starter.connections import ConnectionChangeRejectedError, ConnectionClient, SupervisorNotFoundError
from starter.output import BAD_INPUT, console, err_console, fail, note_native_client, print_json, run
from starter.settings import Settings, get_settings
from starter.store import open_store
from workflows.connection_supervisor import connection_workflow_id

__all__ = ["app"]

app = typer.Typer(help="Run and steer connection supervisors.", no_args_is_help=True)

QUERY_TIMEOUT = 15.0  # a health query waits for a worker; say so instead of hanging
POLL_SECONDS = 0.25
UP = (ConnectionStatus.CONNECTED, ConnectionStatus.DEGRADED)

ConnectionArg = Annotated[str, typer.Argument(help="The connection id, e.g. alpaca-paper.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why (kept in the workflow's history).")]
UpdateIdOption = Annotated[
    str | None, typer.Option("--update-id", help="Idempotency key: retrying with the same id is one change.")
]
TimeoutOption = Annotated[float, typer.Option(help="Seconds to wait before giving up (exit 1).", min=0.1)]


@app.command()
def up(
    connection_id: ConnectionArg,
    check_interval: Annotated[float | None, typer.Option(
        help="Seconds between health checks (default 15).", min=0.1)] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Run the trade-updates stream.")] = True,
    wait: Annotated[bool, typer.Option("--wait", help="Return once the connection is CONNECTED.")] = False,
    timeout: TimeoutOption = 30.0,
    as_json: JsonOption = False,
) -> None:
    """Start the supervisor of a registered connection (a running one is kept); print its Web UI address."""
    settings = get_settings()
    config = SupervisorConfig(stream_enabled=stream, **_interval(check_interval))
    started, health = run_command(_up(settings, connection_id, config, wait, timeout))
    record: dict[str, Any] = {"connection_id": connection_id, "workflow_id": connection_workflow_id(connection_id),
                              "started": started, "ui_url": supervisor_url(settings, connection_id)}
    if as_json:
        print_json(record | ({"health": health_record(settings, health)} if health else {}))
    else:
        console.print(f"supervisor {'started' if started else 'already running'}: {record['ui_url']}")
        if health:
            show_health(settings, health, as_json=False)
    if health and health.status not in UP:
        fail(f"{connection_id} is {health.status} after {timeout:g}s: {health.reason or 'no reason given'}")


@app.command()
def down(
    connection_id: ConnectionArg,
    reason: ReasonOption = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the supervisor has stopped.")] = True,
    timeout: TimeoutOption = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Stop the supervisor: the stream stops, the connection is recorded DISCONNECTED, its alerts clear."""
    settings = get_settings()
    health = run_command(_down(settings, connection_id, reason, timeout if wait else None))
    if health is not None:
        show_health(settings, health, as_json, title="Stopped")
    elif as_json:
        print_json({"connection_id": connection_id, "shutdown": "requested"})
    else:
        console.print(f"shutdown requested: {supervisor_url(settings, connection_id)}")


@app.command()
def health(connection_id: ConnectionArg, as_json: JsonOption = False) -> None:
    """Show status, reason, latency, error rate, stream position, open alerts and metrics."""
    settings = get_settings()
    show_health(settings, run_command(_health(settings, connection_id)), as_json)


@app.command()
def pause(connection_id: ConnectionArg, reason: ReasonOption = None, update_id: UpdateIdOption = None,
          as_json: JsonOption = False) -> None:
    """Suspend checks, reconnects and the stream; exit 1 with the reason when refused."""
    _change(connection_id, "pause", reason, update_id, as_json)


@app.command()
def resume(connection_id: ConnectionArg, reason: ReasonOption = None, update_id: UpdateIdOption = None,
           as_json: JsonOption = False) -> None:
    """Resume supervision at once; exit 1 with the reason when refused."""
    _change(connection_id, "resume", reason, update_id, as_json)


@app.command()
def reconnect(connection_id: ConnectionArg, reason: ReasonOption = None, update_id: UpdateIdOption = None,
              as_json: JsonOption = False) -> None:
    """Log in again now and restart the stream; exit 1 with the reason when refused."""
    _change(connection_id, "reconnect", reason, update_id, as_json)


def _change(connection_id: str, action: str, reason: str | None, update_id: str | None, as_json: bool) -> None:
    """Send one update and print the supervisor's answer (its health afterwards)."""
    settings = get_settings()
    answer = run_command(_update(settings, connection_id, action, reason, update_id))
    if as_json:
        print_json(health_record(settings, answer) | {"change": action, "accepted": True})
    else:
        show_health(settings, answer, as_json=False, title=f"{action.capitalize()} accepted:")


def _interval(check_interval: float | None) -> dict[str, float]:
    return {} if check_interval is None else {"health_interval_seconds": check_interval}


async def _connect(settings: Settings) -> ConnectionClient:
    note_native_client()
    try:
        return await ConnectionClient.connect(settings)
    except RuntimeError as exc:
        fail(f"cannot reach Temporal at {settings.effective_temporal_address}: {exc}")


async def _require_registered(settings: Settings, connection_id: str) -> None:
    """Exit 2 unless the connection is registered in the database."""
    async with open_store(settings) as repositories:
        if await repositories.connections.get(connection_id) is None:
            fail(f"connection {connection_id!r} is not registered; nothing was started. Register it with "
                 f"`brokerflow connection add {connection_id} --broker ...`", BAD_INPUT)


async def _up(settings: Settings, connection_id: str, config: SupervisorConfig, wait: bool, timeout: float
              ) -> tuple[bool, ConnectionHealth | None]:
    await _require_registered(settings, connection_id)
    connections = await _connect(settings)
    was_running = await _running(connections, connection_id)
    await connections.up(connection_id, config)
    if not wait:
        return not was_running, None
    err_console.print(f"waiting for {connection_id}: {supervisor_url(settings, connection_id)}")
    return not was_running, await _until_up(connections, connection_id, timeout)


async def _running(connections: ConnectionClient, connection_id: str) -> bool:
    try:
        described = await connections.handle(connection_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return described.status == WorkflowExecutionStatus.RUNNING


async def _until_up(connections: ConnectionClient, connection_id: str, timeout: float) -> ConnectionHealth:
    """Poll the health until CONNECTED (or DEGRADED); return the last answer when time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = min(max(deadline - loop.time(), 1.0), QUERY_TIMEOUT)
        health = await asyncio.wait_for(connections.health(connection_id), left)
        if health.status in UP or loop.time() >= deadline:
            return health
        await asyncio.sleep(POLL_SECONDS)


async def _down(settings: Settings, connection_id: str, reason: str | None, wait: float | None
                ) -> ConnectionHealth | None:
    connections = await _connect(settings)
    return await connections.down(connection_id, reason=reason or "stopped from the CLI", wait=wait)


async def _health(settings: Settings, connection_id: str) -> ConnectionHealth:
    connections = await _connect(settings)
    try:
        return await asyncio.wait_for(connections.health(connection_id), QUERY_TIMEOUT)
    except TimeoutError:
        fail(f"no answer within {QUERY_TIMEOUT:g}s: is a worker polling task queue {settings.task_queue!r}?")


async def _update(settings: Settings, connection_id: str, action: str, reason: str | None, update_id: str | None
                  ) -> ConnectionHealth:
    connections = await _connect(settings)
    change = {"pause": connections.pause, "resume": connections.resume, "reconnect": connections.reconnect}
    return await change[action](connection_id, reason=reason, update_id=update_id)


def run_command(coroutine: Any) -> Any:
    """Run a command's coroutine, turning the expected failures into a message and exit code 1."""
    try:
        return run(coroutine)
    except SupervisorNotFoundError as exc:
        fail(f"{exc}; start it with `brokerflow connection up`")
    except ConnectionChangeRejectedError as exc:
        fail(f"refused: {exc}")
    except TimeoutError:
        fail("timed out waiting for the supervisor; it keeps running, see `brokerflow connection health`")
    except WorkflowFailureError as exc:
        fail(f"the supervisor failed: {exc.cause or exc}")
    except RPCError as exc:
        fail(f"Temporal refused the call: {exc.message}")
