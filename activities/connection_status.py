"""Bring a BrokerConnection to the status the supervisor decided, through the entity's own methods."""

from __future__ import annotations

from datetime import datetime

from domain.broker_integration import BrokerConnection, ConnectionStatus

from .connection_models import CheckResult

__all__ = ["follow_status"]

C = ConnectionStatus


def follow_status(connection: BrokerConnection, target: ConnectionStatus, at: datetime, reason: str | None,
                  check: CheckResult | None = None) -> None:
    """Apply the verdict; raise ConnectionNotReadyError when the entity refuses the move."""
    if check is not None and not check.ok:
        connection.consecutive_failures += 1
        connection.total_failures += 1
    if target is C.CONNECTED:
        # Only a check moves a live connection back to CONNECTED; FAILED needs a new login (connect).
        healthy = check is None or check.ok
        if healthy and connection.status in (C.CONNECTED, C.DEGRADED, C.RECONNECTING):
            connection.heartbeat(at)
    elif target is C.DEGRADED:
        connection.degrade(at, reason or "degraded")
    elif target is C.FAILED:
        if connection.status is C.DISCONNECTED:
            connection.begin_connect(at)
        connection.trip(at, reason or "failed")
    elif target is C.RECONNECTING:
        if connection.status not in (C.RECONNECTING, C.CONNECTING):
            connection.begin_connect(at)
    elif target is C.DISCONNECTED and connection.status is not C.DISCONNECTED:
        connection.disconnect(at, reason)
