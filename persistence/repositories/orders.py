"""OrderExecutionRepository on PostgreSQL: searchable columns plus the lossless aggregate JSON."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.dialects.postgresql import JSONB, insert

from domain.broker_integration import Order, OrderStatus
from domain.broker_integration.order_state import OPEN_STATUSES
from persistence.tables import OrderRow

from ._base import SqlRepository, table_of, upsert_statement

__all__ = ["SqlOrderExecutionRepository", "order_save"]

_ORDERS = table_of(OrderRow)
_EXCLUDED = insert(_ORDERS).excluded


def _history_length(aggregate: Any) -> Any:
    return func.jsonb_array_length(func.coalesce(aggregate["history"], literal([], JSONB)))


# A write carrying a shorter status history than the stored one is stale (see `save`); built once.
_NOT_STALE = _history_length(_ORDERS.c.aggregate) <= _history_length(_EXCLUDED.aggregate)


def _order_values(order: Order) -> dict[str, Any]:
    request = order.order
    return {
        "client_order_id": order.client_order_id,
        "broker_order_id": order.broker_order_id,
        "connection_id": request.connection_id,
        "account_id": request.account_id,
        "symbol": request.symbol,
        "side": request.side.value,
        "order_type": request.order_type.value,
        "status": order.status.value,
        "quantity": request.quantity,
        "filled_quantity": order.filled_quantity,
        "avg_fill_price": order.avg_fill_price,
        "commission": order.commission,
        "fees": order.fees,
        "aggregate": order.model_dump(mode="json"),
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_save(order: Order) -> tuple[Any, dict[str, Any]]:
    """The statement and values that store `order` unless the stored state is further along (see `save`): for a
    caller storing the order inside a transaction of its own."""
    values = _order_values(order)
    return upsert_statement(_ORDERS, values, "client_order_id", touch=False, where=_NOT_STALE), values


def _order(aggregate: dict[str, Any]) -> Order:
    return Order.model_validate(aggregate)


class SqlOrderExecutionRepository(SqlRepository):
    """Orders in `orders`, keyed by client order id; broker order ids are unique when set."""

    async def get(self, client_order_id: str) -> Order | None:
        """Return the order, or None."""
        return await self._one(_ORDERS.c.client_order_id == client_order_id)

    async def get_by_broker_order_id(self, broker_order_id: str) -> Order | None:
        """Return the order the broker knows by this id, or None."""
        return await self._one(_ORDERS.c.broker_order_id == broker_order_id)

    async def save(self, order: Order) -> None:
        """Insert or update the order's current state, unless the stored state is further along.

        An order's status history only grows, so a write carrying a shorter history than the stored one is
        stale (a retried or delayed write of an earlier state) and must not overwrite the newer state.
        """
        stmt, values = order_save(order)
        async with self._sessions.begin() as session:
            await session.execute(stmt, values)

    async def list_by_status(self, statuses: Sequence[OrderStatus], limit: int = 100) -> Sequence[Order]:
        """Return up to `limit` orders in any of `statuses`, oldest first."""
        if not statuses or limit <= 0:
            return []
        query = (
            select(_ORDERS.c.aggregate)
            .where(_ORDERS.c.status.in_([OrderStatus(s).value for s in statuses]))
            .order_by(_ORDERS.c.created_at, _ORDERS.c.client_order_id)
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(query)).scalars().all()
        return [_order(aggregate) for aggregate in rows]

    async def open_at_connection(self, connection_id: str) -> dict[str, Decimal]:
        """The orders sent to a connection and not ended: broker order id -> the quantity we hold filled.

        Two columns, not the aggregates: the stream's periodic reconcile asks for every open order.
        """
        query = select(_ORDERS.c.broker_order_id, _ORDERS.c.filled_quantity).where(
            _ORDERS.c.connection_id == connection_id, _ORDERS.c.broker_order_id.is_not(None),
            _ORDERS.c.status.in_([s.value for s in OPEN_STATUSES]))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {broker_order_id: filled for broker_order_id, filled in rows}

    async def _one(self, condition: Any) -> Order | None:
        async with self._sessions() as session:
            aggregate = (await session.execute(select(_ORDERS.c.aggregate).where(condition))).scalar()
        return None if aggregate is None else _order(aggregate)
