"""Issue 10 on real PostgreSQL: the upserts and insert-once statements built once per shape write the same
rows as the ones built per call (the orders' stale-write guard included), and SessionPool's short-lived copy
of the stored connection saves reads without hiding the breaker's verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, literal, select, text
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import CompileError

from activities.sessions import SessionPool
from domain.broker_integration import (
    BrokerConnection,
    ConnectionCredentials,
    ConnectionNotReadyError,
    ConnectionStatus,
    Order,
)
from persistence import Repositories
from persistence.repositories import _base
from persistence.repositories.connections import _CONNECTIONS, _connection_values
from persistence.repositories.history import _EXECUTIONS, EXECUTION_KEY
from persistence.repositories.orders import _EXCLUDED, _ORDERS, _history_length, _order_values
from tests.integration.test_repositories import T0, engine_of, filled_order, make_fill, make_order
from tests.unit.domain.fakes import FakeClock, FakeGateway, FakeProvider

NOT_STALE = _history_length(_ORDERS.c.aggregate) <= _history_length(_EXCLUDED.aggregate)


def per_call_upsert(table: Any, values: Mapping[str, Any], key: str, touch: bool = True, where: Any = None) -> Insert:
    """The statement as `upsert` built it before issue 10: everything anew on every call."""
    stmt = insert(table).values(**values)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in values if name != key}
    if touch:
        changes["updated_at"] = func.now()
    return stmt.on_conflict_do_update(index_elements=[key], set_=changes, where=where)


def order_states() -> list[Order]:
    """New, accepted, filled, a stale accepted (must not overwrite), the filled one with newer fees."""
    new = make_order()
    accepted = make_order()
    accepted.submit(T0)
    accepted.accept("brk-1", T0 + timedelta(seconds=1))
    filled, _ = filled_order()
    again = filled.model_copy(deep=True)
    again.fees += Decimal("0.01")
    return [new, accepted, filled, accepted, again]


async def write_orders(repositories: Repositories, how: str, orders: Sequence[Order]) -> list[list[dict[str, Any]]]:
    """Save each order with `how`'s statement on emptied tables; the `orders` rows after each save."""
    await repositories.orders.save(make_order("other"))  # a row the conflict must not touch
    rows = []
    for order in orders:
        values = _order_values(order)
        async with engine_of(repositories).begin() as connection:
            if how == "per call":
                await connection.execute(per_call_upsert(_ORDERS, values, "client_order_id", False, NOT_STALE))
            elif how == "upsert":
                await connection.execute(_base.upsert(_ORDERS, values, "client_order_id", False, NOT_STALE))
            else:
                stmt = _base.upsert_statement(_ORDERS, values, "client_order_id", False, NOT_STALE)
                await connection.execute(stmt, values)
        async with engine_of(repositories).connect() as connection:
            result = await connection.execute(select(_ORDERS).order_by(_ORDERS.c.client_order_id))
            rows.append([dict(row) for row in result.mappings()])
    async with engine_of(repositories).begin() as connection:
        await connection.execute(text("DELETE FROM orders"))
    return rows


async def test_cached_upserts_write_the_rows_the_per_call_ones_wrote(repositories: Repositories) -> None:
    states = order_states()
    expected = await write_orders(repositories, "per call", states)
    assert expected[3] == expected[2]  # the stale write changed nothing
    assert expected[4] != expected[3]  # the same history with newer figures was written
    assert await write_orders(repositories, "upsert", states) == expected
    assert await write_orders(repositories, "statement", states) == expected


async def test_the_repository_keeps_the_stale_write_guard(repositories: Repositories) -> None:
    filled, accepted = order_states()[2:4]
    await repositories.orders.save(filled)
    await repositories.orders.save(accepted)
    assert await repositories.orders.get("ord-1") == filled


async def test_a_touched_upsert_stamps_updated_at_on_conflict(repositories: Repositories) -> None:
    connection = BrokerConnection(connection_id="conn-1", broker="alpaca")
    values = _connection_values(connection)
    stmt = _base.upsert_statement(_CONNECTIONS, values, "connection_id")
    assert _base.upsert_statement(_CONNECTIONS, dict(values), "connection_id") is stmt  # built once per shape
    async with engine_of(repositories).begin() as db:
        await db.execute(stmt, values)
        await db.execute(text("UPDATE broker_connections SET updated_at = now() - interval '1 hour'"))
    connection.begin_connect(T0)
    values = _connection_values(connection)
    async with engine_of(repositories).begin() as db:
        await db.execute(stmt, values)
    async with engine_of(repositories).connect() as db:
        row = (await db.execute(text("SELECT status, updated_at > now() - interval '1 minute' AS touched "
                                     "FROM broker_connections"))).mappings().one()
    assert row["status"] == "CONNECTING" and row["touched"]


def test_guards_alike_share_one_statement_and_the_cache_stays_bounded() -> None:
    values = _order_values(make_order())
    first = _base.upsert_statement(_ORDERS, values, "client_order_id", False, NOT_STALE)
    assert _base.upsert_statement(_ORDERS, values, "client_order_id", False, NOT_STALE) is first
    built_again = _history_length(_ORDERS.c.aggregate) <= _history_length(_EXCLUDED.aggregate)
    assert _base.upsert_statement(_ORDERS, values, "client_order_id", False, built_again) is first
    other = _history_length(_ORDERS.c.aggregate) < _history_length(_EXCLUDED.aggregate)
    assert _base.upsert_statement(_ORDERS, values, "client_order_id", False, other) is not first
    assert _base.upsert_statement(_ORDERS, values, "client_order_id", True, NOT_STALE) is not first
    bound = [_base.upsert_statement(_ORDERS, values, "client_order_id", False, _ORDERS.c.quantity <= literal(n))
             for n in (1, 2, 1)]
    assert bound[0] is not bound[1] and bound[0] is bound[2]  # the bound values count
    for n in range(_base._MAX_SHAPES + 10):
        _base.upsert_statement(_ORDERS, values, "client_order_id", False, _ORDERS.c.quantity <= literal(n))
    assert len(_base._UPSERTS) <= _base._MAX_SHAPES


async def test_insert_once_inserts_once_and_follows_the_callers_transaction(repositories: Repositories) -> None:
    fill = make_fill("exec-1", Decimal("4"))
    assert await repositories.executions.add(fill) is True
    assert await repositories.executions.add(fill) is False
    assert list(await repositories.executions.list_for_order("ord-1")) == [fill]
    values = {key: _base.plain(value) for key, value in make_fill("exec-2", Decimal("1")).model_dump().items()}
    executions = repositories.executions
    assert isinstance(executions, _base.SqlRepository)
    async with executions._sessions() as session:
        assert await executions._insert_once(_EXECUTIONS, values, EXECUTION_KEY, session) is True
        await session.rollback()
    assert [e.execution_id for e in await repositories.executions.list_for_order("ord-1")] == ["exec-1"]
    with pytest.raises(CompileError, match="Unconsumed column names: bogus"):
        await executions._insert_once(_EXECUTIONS, {**values, "bogus": 1}, EXECUTION_KEY)


class CountingReads:
    """The PostgreSQL connection repository, counting `get`."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self, connection_id: str) -> BrokerConnection | None:
        self.reads += 1
        found: BrokerConnection | None = await self.inner.get(connection_id)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_session_pool_reads_postgresql_once_per_ttl_and_sees_a_failed_verdict(
        repositories: Repositories) -> None:
    clock = FakeClock()
    connection = BrokerConnection(connection_id="conn-1", broker="fake")
    connection.begin_connect(clock.now())
    connection.authenticated(clock.now(), None)
    await repositories.connections.save(connection)
    await repositories.connections.save_credentials("conn-1", ConnectionCredentials(api_key="good"))
    reads, ticks, gateway = CountingReads(repositories.connections), Ticks(), FakeGateway(clock)
    pool = SessionPool(reads, FakeProvider(gateway), clock, monotonic=ticks)
    for _ in range(4):  # an order's session, pre-trade check, submission and first poll
        assert await pool.gateway("conn-1") is gateway
        ticks.now += 0.2
    assert reads.reads == 1
    stored = await repositories.connections.get("conn-1")  # the supervisor trips the breaker
    assert stored is not None
    for _ in range(3):
        stored.record_failure(clock.now(), "health checks failed", max_failures=3)
    await repositories.connections.save(stored)
    ticks.now += 0.3  # 1.1 s after the read
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await pool.gateway("conn-1")
    assert reads.reads == 2
    stored.heartbeat(clock.now())  # recovered; a 401 since: invalidate() reads again at once
    stored.status = ConnectionStatus.CONNECTED
    await repositories.connections.save(stored)
    pool.invalidate("conn-1")
    assert await pool.gateway("conn-1") is gateway
    assert (await pool.recent("conn-1")).status is ConnectionStatus.CONNECTED
