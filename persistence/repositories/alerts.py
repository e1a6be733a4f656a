"""Alerts of the connection supervisor (and the anomaly rules): raised once per kind and subject, then cleared.

An alert is open until cleared; raising an alert whose kind and subject already have an open one
returns that one, so a supervisor that retries an activity never raises the same alert twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select, update

from persistence.tables import AlertRow

from ._base import SqlRepository, row_values, table_of

__all__ = ["Alert", "AlertRepository", "InMemoryAlertRepository", "SqlAlertRepository"]

_ALERTS = table_of(AlertRow)


class Alert(BaseModel):
    """One alert: open while `cleared_at` is None."""

    id: str
    kind: str
    subject: str
    severity: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    cleared_at: datetime | None = None


class AlertRepository(Protocol):
    async def raise_alert(self, kind: str, subject: str, severity: str, message: str,
                          details: dict[str, Any] | None = None) -> tuple[Alert, bool]:
        """Open an alert unless one of that kind and subject is open: (alert, newly raised)."""
        ...

    async def clear(self, kind: str, subject: str) -> int:
        """Clear the open alerts of that kind and subject; how many were cleared."""
        ...

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Open alerts, oldest first."""
        ...

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        ...


def _alert(row: Any) -> Alert:
    values = row_values(row)
    return Alert(**{**values, "id": str(values["id"])})


class SqlAlertRepository(SqlRepository):
    """Alerts in the `alerts` table; a transaction-scoped advisory lock serialises raises per kind+subject."""

    async def raise_alert(self, kind: str, subject: str, severity: str, message: str,
                          details: dict[str, Any] | None = None) -> tuple[Alert, bool]:
        """Open an alert unless one of that kind and subject is open: (alert, newly raised)."""
        async with self._sessions.begin() as session:
            await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"alert:{kind}:{subject}"))))
            found = (await session.execute(_open_query(kind, subject))).mappings().first()
            if found is not None:
                return _alert(found), False
            values = {"kind": kind, "subject": subject, "severity": severity, "message": message,
                      "details": details or {}}
            row = (await session.execute(insert(_ALERTS).values(**values).returning(_ALERTS))).mappings().one()
        return _alert(row), True

    async def clear(self, kind: str, subject: str) -> int:
        """Clear the open alerts of that kind and subject; how many were cleared."""
        stmt = (update(_ALERTS).where(_ALERTS.c.kind == kind, _ALERTS.c.subject == subject,
                                      _ALERTS.c.cleared_at.is_(None)).values(cleared_at=func.now()))
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Open alerts, oldest first."""
        query = select(_ALERTS).where(_ALERTS.c.cleared_at.is_(None)).order_by(_ALERTS.c.created_at)
        if subject is not None:
            query = query.where(_ALERTS.c.subject == subject)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [_alert(row) for row in rows]

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        query = select(_ALERTS).where(_ALERTS.c.subject == subject).order_by(_ALERTS.c.created_at)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [_alert(row) for row in rows]


def _open_query(kind: str, subject: str) -> Any:
    return select(_ALERTS).where(_ALERTS.c.kind == kind, _ALERTS.c.subject == subject,
                                 _ALERTS.c.cleared_at.is_(None))


class InMemoryAlertRepository:
    """The in-memory twin, for unit tests and workers without a database."""

    def __init__(self) -> None:
        self.items: list[Alert] = []

    async def raise_alert(self, kind: str, subject: str, severity: str, message: str,
                          details: dict[str, Any] | None = None) -> tuple[Alert, bool]:
        """Open an alert unless one of that kind and subject is open: (alert, newly raised)."""
        for alert in self.items:
            if alert.kind == kind and alert.subject == subject and alert.cleared_at is None:
                return alert, False
        alert = Alert(id=str(uuid.uuid4()), kind=kind, subject=subject, severity=severity, message=message,
                      details=details or {}, created_at=datetime.now(UTC))
        self.items.append(alert)
        return alert, True

    async def clear(self, kind: str, subject: str) -> int:
        """Clear the open alerts of that kind and subject; how many were cleared."""
        cleared = 0
        for alert in self.items:
            if alert.kind == kind and alert.subject == subject and alert.cleared_at is None:
                alert.cleared_at = datetime.now(UTC)
                cleared += 1
        return cleared

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Open alerts, oldest first."""
        return [a for a in self.items if a.cleared_at is None and subject in (None, a.subject)]

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        return [a for a in self.items if a.subject == subject]
