"""How the connection commands show a supervisor: its health as JSON or tables, its live status in lists."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.connection_models import ConnectionHealth
from starter.connections import ConnectionClient
from starter.output import console, jsonable, key_value_table, note_native_client, print_json, workflow_url
from starter.search_attributes import CONNECTION_STATUS
from starter.settings import Settings
from workflows.connection_supervisor import connection_workflow_id

__all__ = [
    "NO_SUPERVISOR",
    "health_record",
    "live_statuses",
    "show_health",
    "supervisor_status",
    "supervisor_url",
]

NO_SUPERVISOR = "-"


def supervisor_url(settings: Settings, connection_id: str) -> str:
    """Return the Web UI address of the connection's supervisor (workflow ``connection-<id>``)."""
    return workflow_url(settings, connection_workflow_id(connection_id))


def health_record(settings: Settings, health: ConnectionHealth) -> dict[str, Any]:
    """Return the health as JSON-ready data (datetimes as strings) with the average latency and UI URL."""
    record: dict[str, Any] = jsonable(health)
    record["metrics"]["avg_latency_ms"] = health.metrics.avg_latency_ms
    return record | {"ui_url": supervisor_url(settings, health.connection_id)}


def show_health(settings: Settings, health: ConnectionHealth, as_json: bool, title: str = "Connection") -> None:
    """Print the health: JSON, or a health table and a metrics table."""
    if as_json:
        print_json(health_record(settings, health))
        return
    console.print(key_value_table(f"{title} {health.connection_id}", _health_rows(settings, health)))
    console.print(key_value_table("Metrics", _metric_rows(health)))


def _health_rows(settings: Settings, health: ConnectionHealth) -> dict[str, Any]:
    stream = health.stream
    return {
        "status": f"{health.status}{' (paused)' if health.paused else ''}"
                  f"{' (shutting down)' if health.shutting_down else ''}",
        "reason": health.reason,
        "since": health.status_since,
        "last check": health.last_check_at,
        "latency": _ms(health.metrics.last_latency_ms),
        "error rate": f"{health.error_rate:.0%} ({health.consecutive_failures} failed in a row)",
        "token expires": health.token_expires_at,
        "next reconnect": health.next_reconnect_at,
        "stream": "running" if health.stream_running else f"stopped ({health.stream_error or 'idle'})",
        "stream events": f"{stream.forwarded} forwarded, {stream.reconciled} reconciled, {stream.resumes} resumes",
        "last stream event": stream.last_event_at,
        "working orders": len(stream.working_orders),
        "open alerts": health.open_alerts,
        "web ui": supervisor_url(settings, health.connection_id),
    }


def _metric_rows(health: ConnectionHealth) -> dict[str, Any]:
    m = health.metrics
    return {
        "checks": f"{m.checks} ({m.failures} failed)",
        "latency avg / max": f"{_ms(m.avg_latency_ms)} / {_ms(m.max_latency_ms)}",
        "reconnects": m.reconnects,
        "token refreshes": f"{m.refreshes} ({m.refresh_failures} failed)",
        "keepalives": m.keepalives,
        "stream restarts": m.stream_restarts,
        "degraded / failed": f"{m.degraded_seconds:.0f} s / {m.failed_seconds:.0f} s",
        "runs": health.runs,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


async def supervisor_status(connections: ConnectionClient, connection_id: str, timeout: float) -> str:
    """Return the supervisor's live status: ``-`` when none runs; one describe, one query, both bounded."""
    handle = connections.handle(connection_id)
    try:
        described = await handle.describe(rpc_timeout=timedelta(seconds=timeout))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return NO_SUPERVISOR
        return f"unknown ({exc.status.name if exc.status else 'error'})"
    if described.status != WorkflowExecutionStatus.RUNNING:
        return NO_SUPERVISOR
    try:
        health = await asyncio.wait_for(connections.health(connection_id), timeout)
    except (TimeoutError, RPCError, LookupError):
        # No worker answered: the status the supervisor last published is still current enough for a list.
        published = described.typed_search_attributes.get(CONNECTION_STATUS) or "running"
        return f"{published} (no worker answer)"
    return f"{health.status}{' (paused)' if health.paused else ''}"


async def live_statuses(settings: Settings, connection_ids: list[str], timeout: float = 3.0) -> dict[str, str]:
    """Return each connection's supervisor status; ``unknown`` for all when Temporal does not answer."""
    if not connection_ids:
        return {}
    note_native_client()
    try:
        connections = await asyncio.wait_for(ConnectionClient.connect(settings), timeout)
    except (RuntimeError, TimeoutError):
        return dict.fromkeys(connection_ids, "unknown (Temporal unreachable)")
    statuses = await asyncio.gather(*(supervisor_status(connections, cid, timeout) for cid in connection_ids))
    return dict(zip(connection_ids, statuses, strict=True))
