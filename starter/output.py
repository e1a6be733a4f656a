"""Rendering shared by the CLI command groups: JSON (decimals as strings), rich tables, errors.

JSON goes to stdout unstyled so scripts can parse it; tables and progress go through rich;
errors go to stderr and end the command with an exit code (1: failed, 2: bad input).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from starter.settings import Settings

__all__ = [
    "BAD_INPUT",
    "FAILED",
    "console",
    "err_console",
    "exit_process",
    "fail",
    "fmt",
    "jsonable",
    "key_value_table",
    "note_native_client",
    "print_json",
    "print_json_line",
    "records_table",
    "run",
    "temporal_ui_base",
    "workflow_url",
]

FAILED = 1
BAD_INPUT = 2

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

T = TypeVar("T")
_native_client_used = False


def note_native_client() -> None:
    """Remember that this process opened a Temporal client (whose Rust threads outlive the event loop)."""
    global _native_client_used
    _native_client_used = True


def exit_process(code: int | str | None) -> NoReturn:
    """Exit with ``code``; after a Temporal client, skip interpreter teardown.

    The SDK's Rust runtime threads can abort CPython's finalization ("PyGILState_Release: thread
    state must be current", temporalio/sdk-python#300), turning exit code 0 into SIGABRT.
    """
    status = 0 if code is None else code if isinstance(code, int) else 1
    if isinstance(code, str):
        err_console.print(code, soft_wrap=True)
    if not _native_client_used:
        raise SystemExit(status)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one command's coroutine to completion; a configuration error (e.g. a bad codec key) exits 1."""
    from domain.broker_integration import ConfigurationError

    try:
        return asyncio.run(coroutine)
    except ConfigurationError as exc:
        fail(str(exc))


def jsonable(value: Any) -> Any:
    """Return ``value`` as JSON-ready data: decimals as strings, datetimes ISO 8601, enums by value."""
    if isinstance(value, BaseModel):
        return jsonable(value.model_dump(mode="python"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    return value


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(jsonable(data), indent=2) + "\n")
    sys.stdout.flush()


def print_json_line(data: Any) -> None:
    """Print ``data`` as one compact JSON line (for streams of changes)."""
    sys.stdout.write(json.dumps(jsonable(data), separators=(",", ":")) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = FAILED, problems: Iterable[str] = ()) -> NoReturn:
    """Print ``message`` (and each problem on its own line) to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    for problem in problems:
        err_console.print(f"  - {problem}", soft_wrap=True)
    raise typer.Exit(code)


def fmt(value: Any) -> str:
    """Return a cell's text: '-' for None, decimals as written, datetimes to the second, lists joined."""
    if value is None or value == "":
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) if value else "-"
    return str(value)


def key_value_table(title: str, rows: Mapping[str, Any]) -> Table:
    """A two-column table of labelled values."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in rows.items():
        table.add_row(label, fmt(value))
    return table


def records_table(title: str, columns: Sequence[str], records: Iterable[Mapping[str, Any]]) -> Table:
    """A table with one row per record and one column per key in ``columns``."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for record in records:
        table.add_row(*(fmt(record.get(column)) for column in columns))
    return table


def temporal_ui_base(settings: Settings) -> str:
    """Return the Web UI's base URL: the local dev server's, else the UI port on the Temporal host."""
    if settings.temporal_ui_url:
        return settings.temporal_ui_url
    host = settings.effective_temporal_address.rsplit(":", 1)[0] or "localhost"
    return f"http://{host}:{settings.temporal_ui_port}"


def workflow_url(settings: Settings, workflow_id: str) -> str:
    """Return the Web UI address of one workflow."""
    namespace = quote(settings.temporal_namespace, safe="")
    return f"{temporal_ui_base(settings)}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"
