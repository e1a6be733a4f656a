"""The PostgreSQL repositories against a real server: lossless roundtrips, exact decimals, idempotent inserts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.broker_integration import (
    AccountType,
    BrokerAccount,
    BrokerConnection,
    BrokerOrder,
    ExecutionParameters,
    ExecutionReport,
    Order,
    OrderStatus,
    OrderStatusUpdate,
    Position,
)
from persistence import Repositories

T0 = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
PRICE = Decimal("123456789.123456")
TINY = Decimal("0.0001")


def engine_of(repositories: Repositories) -> AsyncEngine:
    assert repositories.engine is not None
    return repositories.engine


def make_order(client_order_id: str = "ord-1", quantity: Decimal = Decimal("10")) -> Order:
    request = BrokerOrder(
        client_order_id=client_order_id,
        symbol="AAPL",
        side="buy",
        quantity=quantity,
        order_type="limit",
        price=PRICE,
        account_id="acc-1",
        connection_id="alpaca-paper",
        execution_params=ExecutionParameters(time_in_force="gtc", algorithm_params={"urgency": "low"}),
    )
    return Order.create(request, T0, reference_price=Decimal("150.01"))


def make_fill(execution_id: str, quantity: Decimal, order_id: str = "ord-1", minutes: int = 1) -> ExecutionReport:
    return ExecutionReport(
        execution_id=execution_id,
        client_order_id=order_id,
        broker_order_id="brk-1",
        connection_id="alpaca-paper",
        symbol="AAPL",
        side="BUY",
        quantity=quantity,
        price=PRICE,
        executed_at=T0 + timedelta(minutes=minutes),
        commission=TINY,
        fees=Decimal("0.000119"),
        cumulative_quantity=quantity,
        liquidity="maker",
    )


def filled_order() -> tuple[Order, list[ExecutionReport]]:
    order = make_order()
    order.submit(T0)
    order.accept("brk-1", T0 + timedelta(seconds=1))
    fills = [make_fill("ex-1", Decimal("3.3333")), make_fill("ex-2", Decimal("6.6667"), minutes=2)]
    for fill in fills:
        order.apply_execution(fill)
    return order, fills


async def test_connection_roundtrip_with_history(repositories: Repositories) -> None:
    connection = BrokerConnection(connection_id="alpaca-paper", broker="alpaca", base_url="http://127.0.0.1:8787")
    connection.begin_connect(T0)
    connection.authenticated(T0 + timedelta(seconds=1), expires_at=T0 + timedelta(hours=1))
    connection.record_failure(T0 + timedelta(minutes=5), "timeout")
    await repositories.connections.save(connection)
    assert await repositories.connections.get("alpaca-paper") == connection

    connection.heartbeat(T0 + timedelta(minutes=6))
    await repositories.connections.save(connection)
    await repositories.connections.save(BrokerConnection(connection_id="a-first", broker="ibkr"))
    stored = await repositories.connections.list()
    assert [c.connection_id for c in stored] == ["a-first", "alpaca-paper"]
    assert stored[1] == connection and stored[1].status == "CONNECTED"
    assert await repositories.connections.get("missing") is None


async def test_account_roundtrip_keeps_decimals(repositories: Repositories) -> None:
    account = BrokerAccount(
        account_id="acc-1",
        connection_id="alpaca-paper",
        account_number="PA1234567",
        account_type=AccountType.MARGIN,
        cash=PRICE,
        settled_cash=TINY,
        buying_power=Decimal("246913578.246912"),
        day_trade_count=2,
        shorting_enabled=True,
        positions={"AAPL": Position(symbol="AAPL", quantity=Decimal("-0.0001"), avg_entry_price=PRICE)},
        updated_at=T0,
    )
    await repositories.accounts.save(account)
    await repositories.accounts.save(BrokerAccount(account_id="acc-2", connection_id="other", account_number="9"))
    assert await repositories.accounts.get("acc-1") == account
    assert await repositories.accounts.list_for_connection("alpaca-paper") == [account]

    changed = account.model_copy(update={"cash": Decimal("0.01")})
    await repositories.accounts.save(changed)
    assert (await repositories.accounts.get("acc-1")) == changed


async def test_order_roundtrip_is_lossless(repositories: Repositories) -> None:
    order, _ = filled_order()
    await repositories.orders.save(order)
    loaded = await repositories.orders.get("ord-1")
    assert loaded == order
    assert loaded is not None and loaded.model_dump(mode="json") == order.model_dump(mode="json")
    assert loaded.avg_fill_price == PRICE and loaded.commission == 2 * TINY
    assert await repositories.orders.get("missing") is None


async def test_order_columns_hold_exact_numerics(repositories: Repositories) -> None:
    order, _ = filled_order()
    await repositories.orders.save(order)
    async with engine_of(repositories).connect() as connection:
        row = (await connection.execute(text("SELECT * FROM orders"))).mappings().one()
    assert row["status"] == "FILLED" and row["broker_order_id"] == "brk-1"
    assert row["filled_quantity"] == Decimal("10.0000") and row["avg_fill_price"] == PRICE
    assert str(row["commission"]) == "0.0002" and row["fees"] == Decimal("0.000238")
    assert row["updated_at"].utcoffset() is not None and row["created_at"] == T0


async def test_order_save_upserts_and_finds_by_broker_id(repositories: Repositories) -> None:
    order = make_order()
    await repositories.orders.save(order)
    assert await repositories.orders.get_by_broker_order_id("brk-1") is None
    order.submit(T0)
    order.accept("brk-1", T0 + timedelta(seconds=1))
    await repositories.orders.save(order)
    found = await repositories.orders.get_by_broker_order_id("brk-1")
    assert found == order and found.status is OrderStatus.ACCEPTED
    async with engine_of(repositories).connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM orders"))).scalar() == 1


async def test_a_stale_write_of_an_earlier_state_never_overwrites_a_later_one(repositories: Repositories) -> None:
    """A delayed or retried save of the ACCEPTED state arrives after FILLED was stored (found by `make chaos`)."""
    accepted = make_order()
    accepted.submit(T0)
    accepted.accept("brk-1", T0 + timedelta(seconds=1))
    filled, _ = filled_order()
    await repositories.orders.save(filled)
    await repositories.orders.save(accepted)  # stale: a shorter status history than the stored one
    stored = await repositories.orders.get("ord-1")
    assert stored == filled and stored is not None and stored.status is OrderStatus.FILLED
    async with engine_of(repositories).connect() as connection:
        row = (await connection.execute(text("SELECT status, filled_quantity FROM orders"))).mappings().one()
    assert row["status"] == "FILLED" and row["filled_quantity"] == filled.filled_quantity
    again = filled.model_copy(deep=True)
    again.fees += Decimal("0.01")  # the same history, newer figures: written
    await repositories.orders.save(again)
    assert (await repositories.orders.get("ord-1")) == again


async def test_broker_order_id_is_unique(repositories: Repositories) -> None:
    first, second = make_order("ord-1"), make_order("ord-2")
    for order in (first, second):
        order.submit(T0)
        order.accept("brk-same", T0)
    await repositories.orders.save(first)
    with pytest.raises(IntegrityError):
        await repositories.orders.save(second)


async def test_open_at_connection_names_the_sent_unended_orders_of_that_connection_with_their_fills(
        repositories: Repositories) -> None:
    never_sent = make_order("ord-0")
    partly = make_order("ord-1")
    partly.submit(T0)
    partly.accept("brk-1", T0)
    partly.apply_execution(make_fill("ex-1", Decimal("3.5")))
    waiting = make_order("ord-2")
    waiting.submit(T0)  # sent, no broker id yet: nothing to ask the broker by
    ended = make_order("ord-3")
    ended.submit(T0)
    ended.accept("brk-3", T0)
    ended.cancel(T0)
    elsewhere = make_order("ord-4")
    elsewhere.order = elsewhere.order.model_copy(update={"connection_id": "tradier-sandbox"})
    elsewhere.submit(T0)
    elsewhere.accept("brk-4", T0)
    for order in (never_sent, partly, waiting, ended, elsewhere):
        await repositories.orders.save(order)
    assert await repositories.orders.open_at_connection("alpaca-paper") == {"brk-1": Decimal("3.5")}
    assert await repositories.orders.open_at_connection("tradier-sandbox") == {"brk-4": Decimal(0)}
    assert await repositories.orders.open_at_connection("nobody") == {}


async def test_list_by_status(repositories: Repositories) -> None:
    orders = [make_order(f"ord-{i}") for i in range(4)]
    for i, order in enumerate(orders):
        order.created_at = T0 + timedelta(seconds=i)
    orders[1].submit(T0)
    orders[2].submit(T0)
    orders[2].accept("brk-2", T0)
    orders[3].reject("no buying power", T0)
    for order in reversed(orders):
        await repositories.orders.save(order)
    open_statuses = [OrderStatus.SUBMITTED, OrderStatus.ACCEPTED]
    assert [o.client_order_id for o in await repositories.orders.list_by_status(open_statuses)] == ["ord-1", "ord-2"]
    assert [o.client_order_id for o in await repositories.orders.list_by_status(open_statuses, limit=1)] == ["ord-1"]
    assert await repositories.orders.list_by_status([OrderStatus.REJECTED]) == [orders[3]]
    assert await repositories.orders.list_by_status([]) == []


async def test_duplicate_execution_is_ignored(repositories: Repositories) -> None:
    fill = make_fill("ex-1", TINY)
    assert await repositories.executions.add(fill) is True
    assert await repositories.executions.add(fill) is False
    assert await repositories.executions.add(fill.model_copy(update={"quantity": Decimal("5")})) is False
    other_connection = fill.model_copy(update={"connection_id": "ibkr-live"})
    assert await repositories.executions.add(other_connection) is True
    assert await repositories.executions.list_for_order("ord-1") == [fill, other_connection]


async def test_execution_without_connection_is_still_unique(repositories: Repositories) -> None:
    fill = make_fill("ex-1", TINY).model_copy(update={"connection_id": None})
    assert await repositories.executions.add(fill) is True
    assert await repositories.executions.add(fill) is False
    assert len(await repositories.executions.list_for_order("ord-1")) == 1


async def test_execution_roundtrip_keeps_precision_and_order(repositories: Repositories) -> None:
    _, fills = filled_order()
    for fill in reversed(fills):
        assert await repositories.executions.add(fill)
    stored = await repositories.executions.list_for_order("ord-1")
    assert stored == fills
    assert [f.quantity for f in stored] == [Decimal("3.3333"), Decimal("6.6667")]
    assert stored[0].price == PRICE and stored[0].commission == TINY
    assert stored[0].executed_at.tzinfo is UTC
    assert await repositories.executions.list_for_order("other") == []


async def test_status_history_appends_once_in_sequence(repositories: Repositories) -> None:
    order, _ = filled_order()
    for update in reversed(order.history):
        assert await repositories.statuses.append(update) is True
    assert await repositories.statuses.append(order.history[0]) is False
    history = await repositories.statuses.history("ord-1")
    assert history == order.history
    assert [u.status for u in history][-1] is OrderStatus.FILLED


async def test_status_times_come_back_in_utc(repositories: Repositories) -> None:
    paris = timezone(timedelta(hours=1))
    update = OrderStatusUpdate(
        client_order_id="ord-1", sequence=0, status="SUBMITTED", occurred_at=datetime(2026, 1, 1, 10, tzinfo=paris)
    )
    await repositories.statuses.append(update)
    (stored,) = await repositories.statuses.history("ord-1")
    assert stored == update and stored.occurred_at.tzinfo is UTC and stored.occurred_at.hour == 9


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE order_status_history SET status = 'CANCELED'",
        "DELETE FROM order_status_history",
        "UPDATE execution_reports SET quantity = 1",
        "DELETE FROM execution_reports",
    ],
)
async def test_history_tables_are_append_only(repositories: Repositories, statement: str) -> None:
    await repositories.statuses.append(make_order().submit(T0))
    await repositories.executions.add(make_fill("ex-1", TINY))
    with pytest.raises(IntegrityError, match="append-only"):
        async with engine_of(repositories).begin() as connection:
            await connection.execute(text(statement))
    assert len(await repositories.statuses.history("ord-1")) == 1
    assert len(await repositories.executions.list_for_order("ord-1")) == 1


async def test_database_refuses_an_overfilled_order(repositories: Repositories) -> None:
    order = make_order()
    order.filled_quantity = Decimal("11")  # bypasses the aggregate on purpose
    with pytest.raises(IntegrityError):
        await repositories.orders.save(order)


async def test_alerts_table_fills_its_defaults(repositories: Repositories) -> None:
    async with engine_of(repositories).begin() as connection:
        await connection.execute(
            text("INSERT INTO alerts (severity, kind, subject, message) VALUES ('WARNING', 'slippage', 'ord-1', 'x')")
        )
        row = (await connection.execute(text("SELECT * FROM alerts"))).mappings().one()
    assert row["id"] is not None and row["details"] == {} and row["cleared_at"] is None
