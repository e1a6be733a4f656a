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
    Position,
    PreTradeRejectedError,
)
from domain.broker_integration.repositories import ReservationRequest
from persistence import Repositories

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
