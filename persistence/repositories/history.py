"""ExecutionReportRepository and OrderStatusRepository on PostgreSQL: insert-once, append-only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.broker_integration import ExecutionReport, OrderStatusUpdate
from persistence.tables import ExecutionReportRow, OrderStatusHistoryRow

from ._base import SqlRepository, plain, row_values, table_of

__all__ = ["EXECUTION_KEY", "STATUS_KEY", "STATUS_TABLE", "SqlExecutionReportRepository", "SqlOrderStatusRepository",
           "executions_of", "status_values"]

_EXECUTIONS = table_of(ExecutionReportRow)
_HISTORY = table_of(OrderStatusHistoryRow)
EXECUTION_KEY = "uq_execution_reports_connection_execution"
STATUS_KEY = "uq_order_status_history_order_sequence"
STATUS_TABLE = _HISTORY


def status_values(update: OrderStatusUpdate) -> dict[str, object]:
    """The row of a status change."""
    return {key: plain(value) for key, value in update.model_dump().items()}


async def executions_of(session: AsyncSession, client_order_id: str) -> list[ExecutionReport]:
    """An order's executions in execution order, read in `session`."""
    query = (
        select(_EXECUTIONS)
        .where(_EXECUTIONS.c.client_order_id == client_order_id)
        .order_by(_EXECUTIONS.c.executed_at, _EXECUTIONS.c.id)
    )
    rows = (await session.execute(query)).mappings().all()
    return [ExecutionReport(**row_values(row, drop=("id", "recorded_at"))) for row in rows]


class SqlExecutionReportRepository(SqlRepository):
    """Executions in `execution_reports`, unique by (connection id, execution id)."""

    async def add(self, report: ExecutionReport) -> bool:
        """Store the report; False if it was already stored (nothing changes then)."""
        values = {key: plain(value) for key, value in report.model_dump().items()}
        return await self._insert_once(_EXECUTIONS, values, EXECUTION_KEY)

    async def list_for_order(self, client_order_id: str) -> Sequence[ExecutionReport]:
        """Return the order's executions in execution order."""
        async with self._sessions() as session:
            return await executions_of(session, client_order_id)


class SqlOrderStatusRepository(SqlRepository):
    """Status changes in `order_status_history`; the table refuses UPDATE and DELETE."""

    async def append(self, update: OrderStatusUpdate) -> bool:
        """Store the update; False if this (order, sequence) is already stored."""
        return await self._insert_once(_HISTORY, status_values(update), STATUS_KEY)

    async def history(self, client_order_id: str) -> Sequence[OrderStatusUpdate]:
        """Return the order's status changes by sequence."""
        query = select(_HISTORY).where(_HISTORY.c.client_order_id == client_order_id).order_by(_HISTORY.c.sequence)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [OrderStatusUpdate(**row_values(row, drop=("id", "recorded_at"))) for row in rows]
