"""``brokerflow alerts list|ack|resolve``: the alerts of orders, connections and accounts.

An alert is open until resolved; acknowledging says someone is on it (it stays unresolved, so the same
anomaly does not open a second alert). Resolving closes it: the next occurrence opens a new one.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

import typer

from persistence.repositories.alerts import Alert, AlertNotFoundError, AlertStateError
from persistence.repositories.connection_health import stores_for
from starter.output import BAD_INPUT, console, fail, print_json, records_table
from starter.output import run as run_async
from starter.settings import get_settings
from starter.store import open_store

__all__ = ["app"]

app = typer.Typer(help="Alerts: anomalies of orders and connections; list, acknowledge, resolve.",
                  no_args_is_help=True)


class StatusChoice(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    ALL = "all"


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
IdArg = Annotated[str, typer.Argument(help="The alert's id (from `alerts list`).")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who does it (default: the current user).")]

COLUMNS = ("id", "status", "severity", "kind", "subject", "message", "created_at", "acknowledged_by",
           "resolved_by")


def _record(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(mode="json")


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "cli"


def _who(by: str | None) -> str:
    name = (by if by is not None else _user()).strip()
    if not name or len(name) > 100:
        fail("--by must be a name of 1 to 100 characters", BAD_INPUT)
    return name


def _change(alert_id: str, change: Callable[[Any], Awaitable[Alert]]) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with open_store(get_settings()) as repos:
            try:
                return _record(await change(stores_for(repos).alerts))
            except AlertNotFoundError as exc:
                fail(str(exc), BAD_INPUT)
            except AlertStateError as exc:
                fail(str(exc), BAD_INPUT)

    return run_async(go())


@app.command("list")
def list_command(
    status: Annotated[StatusChoice, typer.Option(help="Which alerts.")] = StatusChoice.OPEN,
    kind: Annotated[str | None, typer.Option(help="Only this kind (e.g. order_price_outlier).")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this subject (order:<id>, connection:<id>).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many, newest first.")] = 200,
    as_json: JsonOption = False,
) -> None:
    """List alerts, newest first (default: the open ones)."""

    async def go() -> list[dict[str, Any]]:
        async with open_store(get_settings()) as repos:
            found = await stores_for(repos).alerts.list_alerts(str(status), kind, subject, limit)
            return [_record(a) for a in found]

    records = run_async(go())
    if as_json:
        print_json(records)
        return
    console.print(records_table(f"Alerts: {status} ({len(records)})", COLUMNS, records))


@app.command("ack")
def ack_command(alert_id: IdArg, by: ByOption = None, as_json: JsonOption = False) -> None:
    """Acknowledge an alert: someone is on it (it stays unresolved)."""
    name = _who(by)
    record = _change(alert_id, lambda store: store.acknowledge(alert_id, name))
    if as_json:
        print_json(record)
        return
    console.print(f"alert {record['id']} {record['kind']} acknowledged by {record['acknowledged_by']}")


@app.command("resolve")
def resolve_command(alert_id: IdArg, by: ByOption = None, as_json: JsonOption = False) -> None:
    """Resolve an alert: it is closed, and the next occurrence of its anomaly opens a new alert."""
    name = _who(by)
    record = _change(alert_id, lambda store: store.resolve(alert_id, name))
    if as_json:
        print_json(record)
        return
    console.print(f"alert {record['id']} {record['kind']} resolved by {record['resolved_by']}")
