"""Alerts of the connection supervisor and the anomaly rules: raised once per kind and subject, then resolved.

An alert is open until resolved (by a person, or cleared when its condition goes away) and can be
acknowledged meanwhile; raising an alert whose kind and subject already have an unresolved one returns
that one, so a retried activity or a rule that fires again never raises the same alert twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import func, insert, select, update

from persistence.tables import AlertRow

from ._base import SqlRepository, row_values, table_of

__all__ = [
    "ALERT_STATUSES",
    "Alert",
    "AlertNotFoundError",
    "AlertRepository",
    "AlertStateError",
    "InMemoryAlertRepository",
    "SqlAlertRepository",
]

_ALERTS = table_of(AlertRow)
AlertStatus = Literal["open", "acknowledged", "resolved"]
ALERT_STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved", "all")
AUTO_RESOLVER = "brokerflow"


class AlertNotFoundError(LookupError):
    """No alert has that id."""


class AlertStateError(ValueError):
    """The alert cannot make that change (a resolved alert cannot be acknowledged)."""


class Alert(BaseModel):
    """One alert: unresolved while `cleared_at` (when it was resolved) is None."""

    id: str
    kind: str
    subject: str
    severity: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    cleared_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> AlertStatus:
        """open, acknowledged or resolved."""
        if self.cleared_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


class AlertRepository(Protocol):
    async def raise_alert(self, kind: str, subject: str, severity: str, message: str,
                          details: dict[str, Any] | None = None) -> tuple[Alert, bool]:
        """Open an alert unless one of that kind and subject is unresolved: (alert, newly raised)."""
        ...

    async def clear(self, kind: str, subject: str) -> int:
        """Resolve the unresolved alerts of that kind and subject (the condition went away); how many."""
        ...

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Unresolved alerts (open or acknowledged), oldest first."""
        ...

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        ...

    async def get(self, alert_id: str) -> Alert:
        """One alert; AlertNotFoundError when there is none with that id."""
        ...

    async def list_alerts(self, status: str = "open", kind: str | None = None, subject: str | None = None,
                          limit: int = 200) -> Sequence[Alert]:
        """Alerts in a status ("all" for every one), newest first."""
        ...

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Mark an unresolved alert as seen (a repeat keeps the first acknowledgement)."""
        ...

    async def resolve(self, alert_id: str, by: str) -> Alert:
        """Close an alert (a repeat keeps the first resolution); a new one of its kind and subject may open."""
        ...


def _alert(row: Any) -> Alert:
    values = row_values(row)
    return Alert(**{**values, "id": str(values["id"])})


def _uuid(alert_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(alert_id)
    except ValueError:
        raise AlertNotFoundError(f"no alert {alert_id!r} (alert ids are UUIDs)") from None


def _check_status(status: str) -> None:
    if status not in ALERT_STATUSES:
        raise ValueError(f"unknown alert status {status!r}; one of {', '.join(ALERT_STATUSES)}")


def _status_filter(query: Any, status: str) -> Any:
    c = _ALERTS.c
    if status == "open":
        return query.where(c.cleared_at.is_(None), c.acknowledged_at.is_(None))
    if status == "acknowledged":
        return query.where(c.cleared_at.is_(None), c.acknowledged_at.is_not(None))
    if status == "resolved":
        return query.where(c.cleared_at.is_not(None))
    return query


class SqlAlertRepository(SqlRepository):
    """Alerts in the `alerts` table; a transaction-scoped advisory lock serialises raises per kind+subject."""

    async def raise_alert(self, kind: str, subject: str, severity: str, message: str,
                          details: dict[str, Any] | None = None) -> tuple[Alert, bool]:
        """Open an alert unless one of that kind and subject is unresolved: (alert, newly raised)."""
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
        """Resolve the unresolved alerts of that kind and subject (the condition went away); how many."""
        stmt = (update(_ALERTS).where(_ALERTS.c.kind == kind, _ALERTS.c.subject == subject,
                                      _ALERTS.c.cleared_at.is_(None))
                .values(cleared_at=func.now(), resolved_by=AUTO_RESOLVER))
        async with self._sessions.begin() as session:
            result = await session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Unresolved alerts (open or acknowledged), oldest first."""
        query = select(_ALERTS).where(_ALERTS.c.cleared_at.is_(None)).order_by(_ALERTS.c.created_at)
        if subject is not None:
            query = query.where(_ALERTS.c.subject == subject)
        return await self._all(query)

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        return await self._all(select(_ALERTS).where(_ALERTS.c.subject == subject).order_by(_ALERTS.c.created_at))

    async def get(self, alert_id: str) -> Alert:
        """One alert; AlertNotFoundError when there is none with that id."""
        found = await self._all(select(_ALERTS).where(_ALERTS.c.id == _uuid(alert_id)))
        if not found:
            raise AlertNotFoundError(f"no alert {alert_id}")
        return found[0]

    async def list_alerts(self, status: str = "open", kind: str | None = None, subject: str | None = None,
                          limit: int = 200) -> Sequence[Alert]:
        """Alerts in a status ("all" for every one), newest first."""
        _check_status(status)
        query = _status_filter(select(_ALERTS), status)
        if kind is not None:
            query = query.where(_ALERTS.c.kind == kind)
        if subject is not None:
            query = query.where(_ALERTS.c.subject == subject)
        return await self._all(query.order_by(_ALERTS.c.created_at.desc()).limit(limit))

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Mark an unresolved alert as seen (a repeat keeps the first acknowledgement)."""
        key = _uuid(alert_id)
        async with self._sessions.begin() as session:
            row = (await session.execute(select(_ALERTS).where(_ALERTS.c.id == key).with_for_update())
                   ).mappings().first()
            if row is None:
                raise AlertNotFoundError(f"no alert {alert_id}")
            alert = _alert(row)
            if alert.status == "resolved":
                raise AlertStateError(f"alert {alert_id} is resolved; nothing to acknowledge")
            if alert.status == "acknowledged":
                return alert
            stmt = (update(_ALERTS).where(_ALERTS.c.id == key)
                    .values(acknowledged_at=func.now(), acknowledged_by=by).returning(_ALERTS))
            return _alert((await session.execute(stmt)).mappings().one())

    async def resolve(self, alert_id: str, by: str) -> Alert:
        """Close an alert (a repeat keeps the first resolution); a new one of its kind and subject may open."""
        key = _uuid(alert_id)
        stmt = (update(_ALERTS).where(_ALERTS.c.id == key, _ALERTS.c.cleared_at.is_(None))
                .values(cleared_at=func.now(), resolved_by=by))
        async with self._sessions.begin() as session:
            await session.execute(stmt)
        return await self.get(alert_id)

    async def _all(self, query: Any) -> list[Alert]:
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
        """Open an alert unless one of that kind and subject is unresolved: (alert, newly raised)."""
        for alert in self.items:
            if alert.kind == kind and alert.subject == subject and alert.cleared_at is None:
                return alert, False
        alert = Alert(id=str(uuid.uuid4()), kind=kind, subject=subject, severity=severity, message=message,
                      details=details or {}, created_at=datetime.now(UTC))
        self.items.append(alert)
        return alert, True

    async def clear(self, kind: str, subject: str) -> int:
        """Resolve the unresolved alerts of that kind and subject (the condition went away); how many."""
        cleared = 0
        for alert in self.items:
            if alert.kind == kind and alert.subject == subject and alert.cleared_at is None:
                alert.cleared_at, alert.resolved_by = datetime.now(UTC), AUTO_RESOLVER
                cleared += 1
        return cleared

    async def list_open(self, subject: str | None = None) -> Sequence[Alert]:
        """Unresolved alerts (open or acknowledged), oldest first."""
        return [a for a in self.items if a.cleared_at is None and subject in (None, a.subject)]

    async def history(self, subject: str) -> Sequence[Alert]:
        """Every alert of a subject, open or cleared, oldest first."""
        return [a for a in self.items if a.subject == subject]

    async def get(self, alert_id: str) -> Alert:
        """One alert; AlertNotFoundError when there is none with that id."""
        for alert in self.items:
            if alert.id == alert_id:
                return alert
        raise AlertNotFoundError(f"no alert {alert_id}")

    async def list_alerts(self, status: str = "open", kind: str | None = None, subject: str | None = None,
                          limit: int = 200) -> Sequence[Alert]:
        """Alerts in a status ("all" for every one), newest first."""
        _check_status(status)
        found = [a for a in reversed(self.items) if status in ("all", a.status)
                 and kind in (None, a.kind) and subject in (None, a.subject)]
        return found[:limit]

    async def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Mark an unresolved alert as seen (a repeat keeps the first acknowledgement)."""
        alert = await self.get(alert_id)
        if alert.status == "resolved":
            raise AlertStateError(f"alert {alert_id} is resolved; nothing to acknowledge")
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = datetime.now(UTC), by
        return alert

    async def resolve(self, alert_id: str, by: str) -> Alert:
        """Close an alert (a repeat keeps the first resolution); a new one of its kind and subject may open."""
        alert = await self.get(alert_id)
        if alert.cleared_at is None:
            alert.cleared_at, alert.resolved_by = datetime.now(UTC), by
        return alert
