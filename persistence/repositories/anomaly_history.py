"""What the anomaly rules compare a finished order with, read from the orders and executions tables.

The symbol's recent fill prices (other orders'), the connection's recent acknowledgement latencies (from
the stored aggregates' submitted/accepted times, the workflow's clock) and its recent rejections.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.broker_integration import ExecutionReport, Order
from domain.broker_integration.rules.anomalies import AnomalyThresholds, OrderHistory
from persistence.database import session_factory
from persistence.tables import ExecutionReportRow, OrderRow

from ._base import table_of
from .history import executions_of

__all__ = ["SqlAnomalyHistory", "history_for"]

_EXECUTIONS = table_of(ExecutionReportRow)
_ORDERS = table_of(OrderRow)


def _ack_ms(submitted: str | None, accepted: str | None) -> Decimal | None:
    if not submitted or not accepted:
        return None
    waited = datetime.fromisoformat(accepted) - datetime.fromisoformat(submitted)
    return Decimal(str(round(max(waited.total_seconds(), 0) * 1000, 3)))


class SqlAnomalyHistory:
    """Reads the history of an order's symbol and connection."""

    def __init__(self, engine: Any, limit: int = 50) -> None:
        self._sessions = session_factory(engine)
        self.limit = limit

    async def for_order(self, order: Order, thresholds: AnomalyThresholds = AnomalyThresholds()) -> OrderHistory:
        """The history the rules compare `order` with; the order itself is left out of prices and latencies."""
        async with self._sessions() as session:
            return await self._history(session, order, thresholds)

    async def with_executions(self, order: Order, thresholds: AnomalyThresholds = AnomalyThresholds()
                              ) -> tuple[list[ExecutionReport], OrderHistory]:
        """The order's own executions (as `ExecutionReportRepository.list_for_order`) and `for_order`'s history,
        read in one session: what a finished order's outcome needs."""
        async with self._sessions() as session:
            return await executions_of(session, order.client_order_id), await self._history(session, order,
                                                                                           thresholds)

    async def _history(self, session: AsyncSession, order: Order, thresholds: AnomalyThresholds) -> OrderHistory:
        cid, connection = order.client_order_id, order.order.connection_id
        prices = (select(_EXECUTIONS.c.price).where(_EXECUTIONS.c.symbol == order.order.symbol,
                                                     _EXECUTIONS.c.client_order_id != cid)
                  .order_by(_EXECUTIONS.c.executed_at.desc()).limit(self.limit))
        # The two times only, not the aggregates: parsing 50 orders' JSON cost more than the rest of the outcome.
        aggregate = _ORDERS.c.aggregate
        latencies = (select(aggregate["submitted_at"].astext, aggregate["accepted_at"].astext)
                     .where(_ORDERS.c.connection_id == connection, _ORDERS.c.client_order_id != cid,
                            _ORDERS.c.created_at <= order.created_at)
                     .order_by(_ORDERS.c.created_at.desc()).limit(self.limit))
        now = order.completed_at or order.updated_at
        since = now - thresholds.rejection_window - timedelta(seconds=1)
        rejections = select(_ORDERS.c.updated_at).where(_ORDERS.c.connection_id == connection,
                                                        _ORDERS.c.status == "REJECTED", _ORDERS.c.updated_at >= since)
        price_rows = (await session.execute(prices)).scalars().all()
        times = (await session.execute(latencies)).all() if connection else []
        rejected = (await session.execute(rejections)).scalars().all() if connection else []
        acks = [ms for ms in (_ack_ms(*t) for t in reversed(times)) if ms is not None]
        return OrderHistory(recent_fill_prices=[Decimal(p) for p in reversed(price_rows)], ack_latencies_ms=acks,
                            recent_rejections=list(rejected), now=now)


def history_for(repositories: Any) -> SqlAnomalyHistory | None:
    """The history reader on the repositories' engine; None for in-memory fakes (history rules then skip)."""
    engine = getattr(repositories, "engine", None)
    return SqlAnomalyHistory(engine) if engine is not None else None
