"""Connection health samples (one row per supervisor check) and the stores the supervisor's activities use.

Samples are a time series in their own table rather than counters on the connection row: the row is
read by every order activity and should stay small, while reporting wants latency over time
(percentiles per hour, availability per day). Each sample also carries the supervisor's running
totals, so the latest sample of a connection answers "how many reconnects, how long degraded".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import insert, select

from persistence.database import session_factory
from persistence.tables import ConnectionHealthSampleRow

from ._base import SqlRepository, row_values, table_of
from .alerts import AlertRepository, InMemoryAlertRepository, SqlAlertRepository

__all__ = [
    "ConnectionStores",
    "HealthSample",
    "HealthSampleRepository",
    "InMemoryHealthSamples",
    "SqlHealthSampleRepository",
    "stores_for",
]

_SAMPLES = table_of(ConnectionHealthSampleRow)


class HealthSample(BaseModel):
    """One check: its outcome and the supervisor's totals at that moment."""

    connection_id: str
    checked_at: datetime
    status: str
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    checks: int = 0
    failures: int = 0
    reconnects: int = 0
    degraded_seconds: float = 0.0
    failed_seconds: float = 0.0


class HealthSampleRepository(Protocol):
    async def add(self, sample: HealthSample) -> None:
        """Store one sample."""
        ...

    async def recent(self, connection_id: str, limit: int = 100) -> Sequence[HealthSample]:
        """The latest samples of a connection, oldest first."""
        ...


class SqlHealthSampleRepository(SqlRepository):
    """Samples in `connection_health_samples`."""

    async def add(self, sample: HealthSample) -> None:
        """Store one sample."""
        async with self._sessions.begin() as session:
            await session.execute(insert(_SAMPLES).values(**sample.model_dump()))

    async def recent(self, connection_id: str, limit: int = 100) -> Sequence[HealthSample]:
        """The latest samples of a connection, oldest first."""
        query = (select(_SAMPLES).where(_SAMPLES.c.connection_id == connection_id)
                 .order_by(_SAMPLES.c.checked_at.desc(), _SAMPLES.c.id.desc()).limit(limit))
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [HealthSample(**row_values(row, drop=("id", "recorded_at"))) for row in reversed(rows)]


class InMemoryHealthSamples:
    """The in-memory twin."""

    def __init__(self) -> None:
        self.items: list[HealthSample] = []

    async def add(self, sample: HealthSample) -> None:
        """Store one sample."""
        self.items.append(sample)

    async def recent(self, connection_id: str, limit: int = 100) -> Sequence[HealthSample]:
        """The latest samples of a connection, oldest first."""
        return [s for s in self.items if s.connection_id == connection_id][-limit:]


@dataclass(frozen=True)
class ConnectionStores:
    """What the supervisor records besides the connection itself: alerts and health samples."""

    alerts: AlertRepository
    samples: HealthSampleRepository


def stores_for(repositories: Any) -> ConnectionStores:
    """SQL stores on the repositories' engine; in-memory twins when they have none (fakes)."""
    engine = getattr(repositories, "engine", None)
    if engine is None:
        return ConnectionStores(InMemoryAlertRepository(), InMemoryHealthSamples())
    sessions = session_factory(engine)
    return ConnectionStores(SqlAlertRepository(sessions), SqlHealthSampleRepository(sessions))
