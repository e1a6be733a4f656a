"""The ``brokerflow`` command line: ``dev up|down|status``, ``worker``, ``simulator``, ``demo``, ``codec-server``.

Other command groups (``order``, ``connection``) plug in as typer sub-apps: a module listed in
``_SUBAPPS`` that exists and exposes ``app`` is mounted under its name.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from typer.main import get_command_name

from starter.devstack import PartStatus, StackError, redact_url, stack_status, start_stack, stop_stack
from starter.output import exit_process
from starter.settings import get_settings

__all__ = ["app", "main"]

app = typer.Typer(help="brokerflow: durable multi-broker order execution on Temporal.", no_args_is_help=True)
dev_app = typer.Typer(help="Run the local stack: embedded PostgreSQL and the Temporal dev server.")
app.add_typer(dev_app, name="dev")
console = Console()
err_console = Console(stderr=True)

# Sub-apps added by other modules when present: (command name, module exposing a typer `app`).
_SUBAPPS: tuple[tuple[str, str], ...] = (
    ("order", "starter.order_cli"),
    ("connection", "starter.connection_cli"),
    ("account", "starter.account_cli"),
    ("alerts", "starter.alerts_cli"),
    ("metrics", "starter.metrics_cli"),
)


@dev_app.command("up")
def dev_up(
    migrate: Annotated[bool, typer.Option(help="Run database migrations after start.")] = True,
) -> None:
    """Start PostgreSQL and Temporal (or reuse them) and print their endpoints."""
    with console.status("Starting the local stack..."):
        info = _or_exit(lambda: start_stack(get_settings(), migrate=migrate))
    table = Table(title="brokerflow local stack", show_header=False)
    for _ in range(3):
        table.add_column(overflow="fold")
    table.add_row("PostgreSQL", redact_url(info.database_url), _pid_text(info.postgres_pid))
    table.add_row(
        "Temporal",
        f"{info.temporal_address} (namespace {info.temporal_namespace})",
        _pid_text(info.temporal_pid),
    )
    if info.ui_url:
        table.add_row("Web UI", info.ui_url, "")
    table.add_row("Data dir", str(info.data_dir), "")
    console.print(table)


@dev_app.command("down")
def dev_down() -> None:
    """Stop the parts of the local stack that `dev up` started."""
    stopped = _or_exit(lambda: stop_stack(get_settings()))
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing of ours was running")


@dev_app.command("status")
def dev_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show whether PostgreSQL, Temporal and its Web UI answer; exit 1 if a part is down."""
    parts = _or_exit(lambda: stack_status(get_settings()))
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in parts], indent=2))
    else:
        _print_status(parts)
    if not all(p.up and p.ui_up is not False for p in parts):
        raise typer.Exit(1)


@app.command()
def worker() -> None:
    """Run a brokerflow worker (workflows and activities) until interrupted."""
    module = _optional_import("worker", "the worker is not available in this installation")
    module.main()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def simulator(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default: settings).")] = None,
) -> None:
    """Run the local broker simulator (extra arguments go to the simulator)."""
    module = _optional_import("simulator", "the broker simulator is not available in this installation")
    cli_main = getattr(module, "cli_main", None)
    if cli_main is None:
        _fail("the simulator package has no cli_main(); run `python -m simulator` instead")
    cli_main(["--port", str(port or get_settings().simulator_port), *ctx.args])


@app.command()
def demo(
    keep_running: Annotated[bool, typer.Option(help="Leave the stack and worker running afterwards.")] = False,
) -> None:
    """Run the end-to-end demo on the local stack and the simulator."""
    module = _optional_import("starter.demo", "the demo is not available in this installation")
    module.main(keep_running=keep_running)


@app.command("codec-server")
def codec_server(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: settings, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings, 8888).")] = None,
    generate_token: Annotated[
        bool, typer.Option(help="Without BROKERFLOW_CODEC_TOKEN, make a token and print it once.")
    ] = False,
) -> None:
    """Serve the payload codec for the Temporal Web UI (bearer token required, CORS for the UI only)."""
    from security.codec import CodecError
    from security.codec_server import is_loopback, resolve, serve

    try:
        config = resolve(get_settings(), host=host, port=port, generate_token=generate_token)
    except (CodecError, ValidationError) as exc:
        _fail(str(exc))
    if config.generated_token:
        typer.echo(f"codec server token (send as 'Authorization: Bearer <token>'): {config.token}")
    if not is_loopback(config.host):
        err_console.print(f"[yellow]warning:[/] listening on {config.host}: reachable from other machines")
    console.print(f"codec server on http://{config.host}:{config.port} for {', '.join(config.origins)}")
    serve(config)


def main() -> None:
    """Run the ``brokerflow`` command line (console-script entry point)."""
    _mount_subapps(sys.argv[1:])
    try:
        app()
    except SystemExit as exc:
        exit_process(exc.code)


def _mount_subapps(args: Sequence[str] | None = None) -> None:
    """Mount the optional command groups that are installed: only the one `args` name (each group imports its own
    clients: `brokerflow account list` need not load the order workflows, nor `brokerflow dev up` any group),
    and all of them for the top-level help or a command nobody knows (its error lists them)."""
    mounted = {group.name for group in app.registered_groups}
    groups = dict(_SUBAPPS)
    named = next((arg for arg in args or () if not arg.startswith("-")), None)
    own = {c.name or get_command_name(c.callback.__name__) for c in app.registered_commands if c.callback}
    if named in groups:
        wanted = {named}
    elif named in own or named in mounted:
        wanted = set()
    else:
        wanted = set(groups)
    for name, module_name in _SUBAPPS:
        if name in mounted or name not in wanted:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.app, name=name)


def _optional_import(module_name: str, message: str) -> Any:
    """Import a module that may not be installed yet, or exit with ``message``."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        _fail(f"{message} (no module {module_name!r})")


def _or_exit(action: Any) -> Any:
    """Run ``action``; turn stack and settings errors into a message and exit code 1."""
    try:
        return action()
    except (StackError, ValidationError, FileNotFoundError) as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    """Print ``message`` as an error and exit 1."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _print_status(parts: list[PartStatus]) -> None:
    table = Table(title="brokerflow local stack")
    for column in ("Part", "State", "Endpoint", "PID", "Managed"):
        table.add_column(column, overflow="fold")
    for part in parts:
        table.add_row(part.name, _state(part.up), part.endpoint, _pid_text(part.pid), "yes" if part.managed else "no")
        if part.ui_url:
            table.add_row("temporal-ui", _state(bool(part.ui_up)), part.ui_url, "", "yes")
    console.print(table)


def _state(up: bool) -> str:
    return "[green]up[/]" if up else "[red]down[/]"


def _pid_text(pid: int | None) -> str:
    return str(pid) if pid else ""


if __name__ == "__main__":
    main()
