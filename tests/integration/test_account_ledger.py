"""The account ledger on real PostgreSQL: atomic reservations, fills and fees booked once, broker sync and drift."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from domain.broker_integration import (
    AccountType,
    BrokerAccount,
    BrokerOrder,
    ExecutionReport,
    FeeReport,
    Order,
    OrderStatusUpdate,
    Position,
    PreTradeRejectedError,
)
from domain.broker_integration.repositories import ReservationRequest
from persistence import Repositories
from persistence.repositories.ledger import SqlAccountLedger

MON = date(2026, 11, 23)


def snapshot(cash: str = "10000", kind: AccountType = AccountType.CASH, **kw: object) -> BrokerAccount:
    return BrokerAccount(account_id="acc-1", connection_id="sim", account_number="PA00001234", account_type=kind,
                         cash=D(cash), settled_cash=D(cash), equity=D(cash), buying_power=D(cash), **kw)


def buy(cid: str, qty: str, price: str = "100", side: str = "BUY", symbol: str = "AAPL") -> ReservationRequest:
    order = BrokerOrder(client_order_id=cid, symbol=symbol, side=side, quantity=D(qty), order_type="LIMIT",
                        price=D(price), connection_id="sim")
    return ReservationRequest(order=order, snapshot=snapshot(), reference_price=D(price), estimated_fees=D("0"),
                              today=MON)


def fill(cid: str, exec_id: str, qty: str, price: str, side: str = "BUY") -> ExecutionReport:
    return ExecutionReport(execution_id=exec_id, client_order_id=cid, connection_id="sim", symbol="AAPL", side=side,
                           quantity=D(qty), price=D(price), executed_at=datetime(2026, 11, 23, 15, tzinfo=UTC))


async def test_concurrent_orders_cannot_spend_the_same_dollars(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    # Ten orders of 2,000 each at the same moment against 10,000 of settled cash: exactly five fit.
    results = await asyncio.gather(*(ledger.reserve(buy(f"o{i}", "20")) for i in range(10)),
                                   return_exceptions=True)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, PreTradeRejectedError)]
    assert len(accepted) == 5 and len(refused) == 5
    assert all(r.code == "INSUFFICIENT_BUYING_POWER" for r in refused)
    assert "reserved by 5 open order(s)" in refused[0].message
    held = await ledger.reservations("acc-1")
    assert sum(r.held_amount for r in held) == D("10000")


async def test_reservation_is_idempotent_and_released_on_completion(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    first, _ = await ledger.reserve(buy("o1", "60"))
    again, _ = await ledger.reserve(buy("o1", "60"))  # a retried activity: the same reservation
    assert again == first and len(await ledger.reservations("acc-1")) == 1
    with pytest.raises(PreTradeRejectedError):
        await ledger.reserve(buy("o2", "50"))
    assert await ledger.release("o1", "CANCELED")
    assert not await ledger.release("o1", "CANCELED")
    await ledger.reserve(buy("o2", "50"))


async def test_fills_and_fees_are_booked_once_into_the_account(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    await ledger.reserve(buy("o1", "60"))
    assert await ledger.book_execution(fill("o1", "e1", "20", "99.50"), MON)
    assert not await ledger.book_execution(fill("o1", "e1", "20", "99.50"), MON)  # same execution again
    assert await ledger.book_execution(fill("o1", "e2", "40", "100"), MON)
    account = await repositories.accounts.get("acc-1")
    assert account is not None
    assert account.cash == D("10000") - D("1990") - D("4000")
    assert account.positions["AAPL"].quantity == D("60")
    assert account.positions["AAPL"].avg_entry_price == (D("1990") + D("4000")) / 60
    (reservation,) = await ledger.reservations("acc-1")
    assert reservation.filled_quantity == D("60") and reservation.held_amount == 0
    assert len(await repositories.executions.list_for_order("o1")) == 2
    fee = FeeReport(fee_id="f1", client_order_id="o1", connection_id="sim", kind="SEC_FEE", amount=D("0.16"),
                    charged_at=datetime(2026, 11, 23, 21, tzinfo=UTC))
    assert await ledger.book_fee(fee) and not await ledger.book_fee(fee)
    account = await repositories.accounts.get("acc-1")
    assert account is not None and account.cash == D("4009.84")


async def test_sync_keeps_our_bookkeeping_and_reports_drift(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    first = await ledger.sync(snapshot(), MON)
    assert first.created and first.drifts == []
    await ledger.reserve(buy("o1", "10", side="BUY"))
    await ledger.book_execution(fill("o1", "e1", "10", "100"), MON)
    held = snapshot("9000", positions={"AAPL": Position(symbol="AAPL", quantity=D("10"), avg_entry_price=D("100"),
                                                        market_value=D("1000"))})
    sell = buy("o2", "10", side="SELL")
    await ledger.reserve(ReservationRequest(order=sell.order, snapshot=held, reference_price=D("110"),
                                            estimated_fees=D("0"), today=MON))
    await ledger.book_execution(fill("o2", "e2", "10", "110", side="SELL"), MON)
    await ledger.release("o1", "FILLED")
    await ledger.release("o2", "FILLED")
    # The broker agrees: cash 10,100, no position; our pending settlement of 1,100 survives the sync.
    agreed = await ledger.sync(snapshot("10100"), MON)
    assert agreed.drifts == [] and agreed.orders_in_flight == 0
    assert agreed.account.settled_cash == D("9000") and agreed.account.pending_settlements[0].amount == D("1100")
    assert agreed.account.realized_pnl == D("100")
    # The broker shows a position we never booked: drift on quantity and on cash.
    stray = await ledger.sync(snapshot("9000", positions={"MSFT": Position(symbol="MSFT", quantity=D("5"),
                                                                          avg_entry_price=D("220"),
                                                                          market_value=D("1100"))}), MON)
    assert sorted(d.field for d in stray.drifts) == ["cash", "quantity"]
    assert (await repositories.accounts.get("acc-1")).positions["MSFT"].quantity == D("5")  # type: ignore[union-attr]


async def test_retirement_type_set_by_the_user_survives_a_sync(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    await ledger.sync(snapshot(), MON)
    account = await repositories.accounts.get("acc-1")
    assert account is not None
    await repositories.accounts.save(account.model_copy(update={"account_type": AccountType.IRA_ROTH}))
    synced = await ledger.sync(snapshot(), MON)
    assert synced.account.account_type is AccountType.IRA_ROTH
    with pytest.raises(PreTradeRejectedError) as info:
        await ledger.reserve(buy("s1", "1", side="SELL_SHORT"))
    assert info.value.code == "SHORT_NOT_ALLOWED"


async def test_a_released_reservation_is_taken_again_on_a_new_check(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    await ledger.reserve(buy("o1", "60"))
    assert await ledger.release("o1", "re-routed")
    assert await ledger.reservations("acc-1") == []
    again, _ = await ledger.reserve(buy("o1", "60"))  # checked again, held again
    assert [r.client_order_id for r in await ledger.reservations("acc-1")] == ["o1"]
    assert again.held_amount == D("6000")


async def test_an_option_fill_is_booked_at_the_contract_multiplier(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    contract = "AAPL260320C00190000"
    order = BrokerOrder(client_order_id="opt1", symbol=contract, side="BUY", quantity=D(2), order_type="LIMIT",
                        price=D("5.10"), connection_id="sim", asset_class="OPTION")
    await ledger.reserve(ReservationRequest(order=order, snapshot=snapshot(cash="10000", kind=AccountType.MARGIN),
                                            reference_price=D("5.10"), estimated_fees=D("0"), today=MON))
    await repositories.orders.save(Order.create(order, datetime(2026, 11, 23, 15, tzinfo=UTC)))
    report = ExecutionReport(execution_id="opt-e1", client_order_id="opt1", connection_id="sim", symbol=contract,
                             side="BUY", quantity=D(2), price=D("5.09"), executed_at=datetime(2026, 11, 23, 15,
                                                                                              tzinfo=UTC))
    assert await ledger.book_execution(report, MON)
    account = await repositories.accounts.get("acc-1")
    assert account is not None
    assert account.cash == D("10000") - D("1018")  # 2 contracts x 100 x 5.09, not 10.18
    held = account.positions[contract]
    assert held.asset_class == "OPTION" and held.market_value == D("1018")


def _filled_order(cid: str, qty: str) -> tuple[Order, list[OrderStatusUpdate], list[ExecutionReport]]:
    at = datetime(2026, 11, 23, 15, tzinfo=UTC)
    order = Order.create(buy(cid, qty).order, at)
    executions = [fill(cid, f"{cid}-e1", "20", "99.50"), fill(cid, f"{cid}-e2", str(D(qty) - 20), "100")]
    changes = [order.submit(at), order.accept("b-" + cid, at), *(order.apply_execution(e) for e in executions)]
    return order, [u for u in changes if u is not None], executions


async def test_record_stores_an_orders_changes_once_and_releases_a_finished_order(
        repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    await ledger.reserve(buy("o1", "60"))
    order, updates, executions = _filled_order("o1", "60")
    fee = FeeReport(fee_id="f1", client_order_id="o1", connection_id="sim", kind="SEC_FEE", amount=D("0.16"),
                    charged_at=datetime(2026, 11, 23, 21, tzinfo=UTC))
    stored = await ledger.record(order, updates, executions, [fee], lambda at: MON)
    assert (stored.executions, stored.fees, stored.updates) == (executions, [fee], updates)
    again = await ledger.record(order, updates, executions, [fee], lambda at: MON)  # a retried activity
    assert (again.executions, again.fees, again.updates) == ([], [], [])
    account = await repositories.accounts.get("acc-1")
    assert account is not None and account.cash == D("10000") - D("1990") - D("4000") - D("0.16")
    assert account.positions["AAPL"].quantity == D("60")
    assert [u.status for u in await repositories.statuses.history("o1")] == ["SUBMITTED", "ACCEPTED",
                                                                              "PARTIALLY_FILLED", "FILLED"]
    assert len(await repositories.executions.list_for_order("o1")) == 2
    saved = await repositories.orders.get("o1")
    assert saved is not None and saved.status == "FILLED" and saved.filled_quantity == D("60")
    assert await ledger.reservations("acc-1") == [] and not await ledger.release("o1", "FILLED")


async def test_record_is_one_transaction(repositories: Repositories) -> None:
    ledger = repositories.ledger
    assert ledger is not None
    await ledger.reserve(buy("o1", "60"))
    order, updates, executions = _filled_order("o1", "60")
    calls: list[datetime] = []

    def fails_second(at: datetime) -> date:  # the second fill fails after the first one was booked
        calls.append(at)
        if len(calls) > 1:
            raise RuntimeError("database gone")
        return MON

    with pytest.raises(RuntimeError):
        await ledger.record(order, updates, executions, [], fails_second)
    # Nothing of it was stored: not the first fills, not the account, not the statuses, not the order.
    assert await repositories.executions.list_for_order("o1") == []
    assert await repositories.statuses.history("o1") == [] and await repositories.orders.get("o1") is None
    (reservation,) = await ledger.reservations("acc-1")
    account = await repositories.accounts.get("acc-1")
    assert reservation.filled_quantity == 0 and account is not None and account.cash == D("10000")


async def test_the_reserved_totals_summed_in_postgresql_are_the_domain_rules(repositories: Repositories) -> None:
    """Plain unfilled orders are summed by PostgreSQL, the rest by `reserved_totals`: together, the same figures
    as the rule over every held reservation (and the order being checked left out)."""
    from domain.broker_integration.rules.buying_power import reserved_totals

    ledger = repositories.ledger
    assert isinstance(ledger, SqlAccountLedger)
    await ledger.sync(snapshot("1000000", kind=AccountType.MARGIN,
                               positions={"AAPL": Position(symbol="AAPL", quantity=D("500"))}), MON)
    requests = [buy(f"b{i}", str(i + 1), price=f"{100 + i}.37") for i in range(12)]
    requests += [buy(f"s{i}", str(i + 2), side="SELL") for i in range(4)]
    requests += [buy("m1", "3", symbol="MSFT"), buy("g1-tp", "10", side="SELL"), buy("g1-sl", "10", side="SELL"),
                 buy("-tp", "1")]  # not an exit: nothing before the suffix
    for request in requests:
        held = ReservationRequest(order=request.order, snapshot=snapshot("1000000", kind=AccountType.MARGIN,
                                  positions={"AAPL": Position(symbol="AAPL", quantity=D("500"))}),
                                  reference_price=request.reference_price, estimated_fees=D("0"), today=MON)
        await ledger.reserve(held)
    await ledger.book_execution(fill("b3", "e1", "1", "103.37"), MON)  # partly filled
    await ledger.book_execution(fill("s1", "e2", "3", "100", side="SELL"), MON)  # completely filled
    everything = await ledger.reservations("acc-1")
    for symbol, exclude in (("AAPL", "b5"), ("AAPL", "none"), ("MSFT", "g1-tp")):
        async with ledger._sessions() as session:
            summed = await ledger._reserved(session, "acc-1", symbol, exclude)
        assert summed == reserved_totals(everything, symbol, exclude=exclude)
        assert summed.orders > 0 and summed.buying_power > 0
    async with ledger._sessions() as session:
        aapl = await ledger._reserved(session, "acc-1", "AAPL", "b5")
    assert aapl.pair_sell_quantity == {"g1": D("10")} and aapl.sell_quantity == D("2") + D("4") + D("5") + D("10")


async def test_a_finished_orders_reservation_left_held_is_swept_by_syncs_and_by_a_check_once_a_minute(
        repositories: Repositories) -> None:
    """The safety net for an order whose last step failed: stored FILLED, its reservation still held. Every
    sync sweeps it; a pre-trade check sweeps an account at most once a minute (the sweep reads every held
    reservation of the account under its lock: 17 ms at 10,000 held, in every check)."""
    clock = [1000.0]
    ledger = SqlAccountLedger(repositories.ledger._sessions, monotonic=lambda: clock[0])  # type: ignore[union-attr]
    await ledger.reserve(buy("o1", "10"))  # creates the account
    await ledger.reserve(buy("o0", "10"))  # this process's first check of the account: swept
    order, _, _ = _filled_order("o1", "30")
    await repositories.orders.save(order)  # FILLED, but nothing released it
    clock[0] += 30
    await ledger.reserve(buy("o2", "10"))  # swept 30 s ago: not again
    assert {r.client_order_id for r in await ledger.reservations("acc-1")} == {"o0", "o1", "o2"}
    clock[0] += 30
    await ledger.reserve(buy("o3", "10"))  # a minute on: swept
    assert {r.client_order_id for r in await ledger.reservations("acc-1")} == {"o0", "o2", "o3"}
    order2, _, _ = _filled_order("o2", "30")
    await repositories.orders.save(order2)
    await ledger.sync(snapshot(), MON)  # a sync sweeps whenever it runs
    assert {r.client_order_id for r in await ledger.reservations("acc-1")} == {"o0", "o3"}
