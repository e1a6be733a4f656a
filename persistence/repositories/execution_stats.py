"""Read side of execution quality: per-order metrics from `orders`, `execution_reports` and `order_fees`,
recent quality per connection (for the router) and open orders per connection (for the SPREAD policy)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select

from domain.broker_integration import ExecutionReport, FeeKind, Order
from domain.broker_integration.rules.metrics import (
    ExecutionMetrics,
    ExecutionQuality,
    execution_metrics,
    execution_quality,
)
from persistence.database import session_factory
from persistence.tables import BrokerConnectionRow, ExecutionReportRow, FeeReportRow, OrderRow

from ._base import SqlRepository, row_values, table_of

__all__ = ["SqlExecutionStats", "execution_stats_for"]

_ORDERS = table_of(OrderRow)
_EXECUTIONS = table_of(ExecutionReportRow)
_FEES = table_of(FeeReportRow)
_CONNECTIONS = table_of(BrokerConnectionRow)
TERMINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")
ZERO = Decimal("0")


class SqlExecutionStats(SqlRepository):
    """Queries over stored orders; every call is one read-only transaction."""

    async def recent_quality(self, connection_ids: Sequence[str], per_connection: int = 50
                             ) -> dict[str, ExecutionQuality]:
        """Execution quality of each connection's latest finished orders."""
        found: dict[str, ExecutionQuality] = {}
        async with self._sessions() as session:
            for cid in connection_ids:
                query = (select(_ORDERS.c.aggregate)
                         .where(and_(_ORDERS.c.connection_id == cid, _ORDERS.c.status.in_(TERMINAL)))
                         .order_by(_ORDERS.c.created_at.desc()).limit(per_connection))
                orders = [Order.model_validate(a) for a in (await session.execute(query)).scalars().all()]
                found[cid] = execution_quality(execution_metrics(o, []) for o in orders)
        return found

    async def open_orders(self) -> dict[str, int]:
        """How many orders each connection has open now."""
        query = (select(_ORDERS.c.connection_id, func.count())
                 .where(_ORDERS.c.status.not_in(TERMINAL)).group_by(_ORDERS.c.connection_id))
        async with self._sessions() as session:
            return {row[0]: int(row[1]) for row in (await session.execute(query)).all() if row[0] is not None}

    async def order_metrics(self, since: datetime | None = None, until: datetime | None = None
                            ) -> list[ExecutionMetrics]:
        """Metrics of every order created in [since, until), with its broker, commissions and fees as stored
        in `execution_reports` and `order_fees` (fees charged after the order ended included)."""
        query = select(_ORDERS.c.aggregate).order_by(_ORDERS.c.created_at, _ORDERS.c.client_order_id)
        if since is not None:
            query = query.where(_ORDERS.c.created_at >= since)
        if until is not None:
            query = query.where(_ORDERS.c.created_at < until)
        async with self._sessions() as session:
            orders = [Order.model_validate(a) for a in (await session.execute(query)).scalars().all()]
            ids = [o.client_order_id for o in orders]
            executions = await _executions(session, ids)
            fees = await _fees(session, ids)
            brokers = {row[0]: row[1] for row in
                       (await session.execute(select(_CONNECTIONS.c.connection_id, _CONNECTIONS.c.broker))).all()}
        rows = []
        for order in orders:
            mine = executions.get(order.client_order_id, [])
            metrics = execution_metrics(order, mine)
            commission = sum((e.commission for e in mine), ZERO)
            charged = sum((e.fees for e in mine), ZERO)
            for kind, amount in fees.get(order.client_order_id, []):
                if kind == FeeKind.COMMISSION:
                    commission += amount
                else:
                    charged += amount
            # The tables hold fees swept in after the workflow stored its last aggregate: take the larger.
            rows.append(metrics.with_charges(max(commission, metrics.commission), max(charged, metrics.fees),
                                             broker=brokers.get(order.order.connection_id or "")))
        return rows


async def _executions(session: Any, ids: list[str]) -> dict[str, list[ExecutionReport]]:
    if not ids:
        return {}
    query = (select(_EXECUTIONS).where(_EXECUTIONS.c.client_order_id.in_(ids))
             .order_by(_EXECUTIONS.c.executed_at, _EXECUTIONS.c.id))
    found: dict[str, list[ExecutionReport]] = {}
    for row in (await session.execute(query)).mappings().all():
        report = ExecutionReport(**row_values(row, drop=("id", "recorded_at")))
        found.setdefault(report.client_order_id, []).append(report)
    return found


async def _fees(session: Any, ids: list[str]) -> dict[str, list[tuple[str, Decimal]]]:
    if not ids:
        return {}
    query = select(_FEES.c.client_order_id, _FEES.c.kind, _FEES.c.amount).where(_FEES.c.client_order_id.in_(ids))
    found: dict[str, list[tuple[str, Decimal]]] = {}
    for cid, kind, amount in (await session.execute(query)).all():
        found.setdefault(cid, []).append((kind, amount))
    return found


def execution_stats_for(repositories: Any) -> SqlExecutionStats | None:
    """The stats reader on the repositories' engine; None for in-memory fakes."""
    engine = getattr(repositories, "engine", None)
    return None if engine is None else SqlExecutionStats(session_factory(engine))
