"""Worked examples: buying power after a buy, a sell, a short and a day trade, for each account type."""

from datetime import date
from decimal import Decimal as D

import pytest

from domain.broker_integration import (
    AccountType,
    AssetClass,
    BrokerAccount,
    BrokerOrder,
    OrderSide,
    Position,
    PreTradeRejectedError,
    Settlement,
)
from domain.broker_integration.rules.accounting import apply_fill, mark_to_market, next_business_day, roll_to
from domain.broker_integration.rules.buying_power import (
    ReservedTotals,
    check_pre_trade,
    reservation_for,
    reserved_totals,
)
from domain.broker_integration.rules.fees import ALPACA_EQUITIES, FeeEstimate, compare_fees, estimate_fees
from domain.broker_integration.rules.margin import compute_figures

MON, TUE, FRI = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 27)


def account(kind: AccountType, cash: str = "10000", **kw: object) -> BrokerAccount:
    return BrokerAccount(account_id="acc", connection_id="c", account_number="PA00001234", account_type=kind,
                         cash=D(cash), settled_cash=D(cash), equity=D(cash), trade_date=MON, **kw)


def fill(acc: BrokerAccount, side: str, qty: str, price: str, day: date = MON, symbol: str = "AAPL",
         fees: str = "0") -> BrokerAccount:
    return apply_fill(acc, symbol=symbol, side=OrderSide(side), quantity=D(qty), price=D(price), fees=D(fees),
                      trade_date=day).account


def order(side: str, qty: str, symbol: str = "AAPL", **kw: object) -> BrokerOrder:
    return BrokerOrder(client_order_id="o1", symbol=symbol, side=side, quantity=D(qty), **kw)


def test_settlement_is_the_next_business_day() -> None:
    assert next_business_day(MON) == TUE
    assert next_business_day(FRI) == date(2026, 11, 30)
    assert next_business_day(date(2026, 11, 25), holidays={date(2026, 11, 26)}) == FRI


def test_cash_account_buy_then_sell_waits_for_settlement() -> None:
    acc = fill(account(AccountType.CASH), "BUY", "50", "100")
    figures = compute_figures(acc, MON)
    assert (acc.cash, figures.settled_cash, figures.buying_power) == (D("5000"), D("5000"), D("5000"))
    fees = estimate_fees(ALPACA_EQUITIES, OrderSide.SELL, D("50"), D("110"))
    assert fees == FeeEstimate(sec_fee=D("0.16"), finra_taf=D("0.01"))  # 5,500 x 27.80/1e6 = 0.1529 -> 0.16
    acc = fill(acc, "SELL", "50", "110", fees=str(fees.total))
    assert acc.cash == D("10499.83") and acc.realized_pnl == D("500")
    assert acc.positions == {}
    assert compute_figures(acc, MON).buying_power == D("4999.83")  # the 5,500 of proceeds settle Tuesday
    assert compute_figures(acc, TUE).buying_power == D("10499.83")
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("BUY", "60"), acc, D("100"), today=MON)
    assert info.value.code == "INSUFFICIENT_BUYING_POWER"
    assert "$6,000.00" in info.value.message and "$4,999.83" in info.value.message
    check_pre_trade(order("BUY", "60"), roll_to(acc, TUE), D("100"), today=TUE)


def test_cash_account_cannot_short_and_sells_only_what_it_holds() -> None:
    acc = fill(account(AccountType.CASH), "BUY", "10", "100")
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("SELL_SHORT", "1"), acc, D("100"), today=MON)
    assert info.value.code == "SHORT_NOT_ALLOWED"
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("SELL", "8"), acc, D("100"), today=MON,
                        reserved=ReservedTotals(sell_quantity=D("3"), orders=1))
    assert info.value.code == "INSUFFICIENT_POSITION"
    check_pre_trade(order("SELL", "7"), acc, D("100"), today=MON, reserved=ReservedTotals(sell_quantity=D("3")))


def test_good_faith_violation_detected_and_refused() -> None:
    acc = account(AccountType.CASH, cash="0", allow_unsettled_funds=True)
    acc = fill(acc, "BUY", "10", "100", day=date(2026, 11, 20), symbol="XYZ").model_copy(update={"cash": D("0")})
    acc = fill(acc, "SELL", "10", "100", symbol="XYZ")  # 1,000 of proceeds, settling Tuesday
    assert compute_figures(acc, MON).settled_cash == D("0")
    assert compute_figures(acc, MON).buying_power == D("1000")  # limited margin: unsettled funds may be spent
    acc = fill(acc, "BUY", "10", "100", symbol="ABC")
    open_lots = [(p.symbol, p.quantity, p.funds_settle_on) for p in acc.unsettled_purchases if p.funds_settle_on > MON]
    assert open_lots == [("ABC", D("10"), TUE)]
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("SELL", "10", symbol="ABC"), acc, D("100"), today=MON)
    assert info.value.code == "GOOD_FAITH_VIOLATION" and "2026-11-24" in info.value.message
    effect = apply_fill(acc, symbol="ABC", side=OrderSide.SELL, quantity=D("4"), price=D("101"), trade_date=MON)
    assert effect.good_faith_violation is not None and effect.good_faith_violation.quantity == D("4")
    assert len(effect.account.good_faith_violations) == 1
    check_pre_trade(order("SELL", "10", symbol="ABC"), roll_to(acc, TUE), D("100"), today=TUE)


def test_margin_account_buy_and_sell_reg_t() -> None:
    acc = account(AccountType.MARGIN)
    assert compute_figures(acc, MON).buying_power == D("20000")
    acc = fill(acc, "BUY", "100", "100")
    f = compute_figures(acc, MON)
    assert (f.cash, f.long_market_value, f.equity) == (D("0"), D("10000"), D("10000"))
    assert (f.initial_margin, f.maintenance_margin, f.buying_power) == (D("5000"), D("2500"), D("10000"))
    acc = mark_to_market(fill(acc, "SELL", "50", "110"), {"AAPL": D("110")})
    f = compute_figures(acc, MON)
    assert (f.cash, f.long_market_value, f.equity) == (D("5500"), D("5500"), D("11000"))
    assert (f.initial_margin, f.buying_power) == (D("2750"), D("16500"))
    assert acc.positions["AAPL"].realized_pnl == D("500") and acc.positions["AAPL"].unrealized_pnl == D("500")


def test_margin_account_short() -> None:
    acc = account(AccountType.MARGIN, shorting_enabled=True)
    needed = reservation_for(order("SELL_SHORT", "100", symbol="XYZ"), "acc", D("50")).amount
    assert needed == D("5150.00")  # 100 x 50 x 1.03
    acc = fill(acc, "SELL_SHORT", "100", "50", symbol="XYZ")
    f = compute_figures(acc, MON)
    assert (f.cash, f.short_market_value, f.equity) == (D("15000"), D("-5000"), D("10000"))
    assert (f.initial_margin, f.maintenance_margin, f.buying_power) == (D("2500"), D("1500"), D("15000"))
    acc = mark_to_market(acc, {"XYZ": D("60")})  # the short loses 1,000
    f = compute_figures(acc, MON)
    assert (f.equity, f.maintenance_margin, f.buying_power) == (D("9000"), D("1800"), D("12000"))
    assert acc.positions["XYZ"].unrealized_pnl == D("-1000")
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("BUY_TO_COVER", "101", symbol="XYZ"), acc, D("60"), today=MON)
    assert info.value.code == "NO_SHORT_POSITION"


def test_margin_call_when_equity_falls_below_maintenance() -> None:
    acc = fill(account(AccountType.MARGIN), "BUY", "200", "100")  # 20,000 long on 10,000 of equity
    assert not compute_figures(acc, MON).margin_call
    acc = mark_to_market(acc, {"AAPL": D("62")})  # long 12,400, cash -10,000: equity 2,400 < 3,100
    f = compute_figures(acc, MON)
    assert (f.equity, f.maintenance_margin, f.margin_call) == (D("2400"), D("3100.00"), True)
    assert f.buying_power == D("0")


def test_day_trades_of_a_small_margin_account() -> None:
    acc = account(AccountType.MARGIN, cash="20000")
    for day in (date(2026, 11, 19), date(2026, 11, 20), MON):
        acc = fill(fill(acc, "BUY", "10", "100", day=day), "SELL", "10", "100", day=day)
    assert acc.day_trades == [date(2026, 11, 19), date(2026, 11, 20), MON] and acc.day_trade_count == 3
    acc = fill(acc, "BUY", "10", "100")
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("SELL", "10"), acc, D("100"), today=MON)
    assert info.value.code == "PATTERN_DAY_TRADER" and "day trade 4" in info.value.message
    check_pre_trade(order("SELL", "10"), roll_to(acc, TUE), D("100"), today=TUE)  # held overnight: no day trade
    rich = acc.model_copy(update={"cash": D("29000")})
    check_pre_trade(order("SELL", "10"), rich, D("100"), today=MON)  # 30,000 of equity: allowed


def test_pattern_day_trader_gets_four_times() -> None:
    acc = account(AccountType.MARGIN, cash="30000", pattern_day_trader=True, last_equity=D("30000"))
    f = compute_figures(acc, MON)
    assert (f.multiplier, f.buying_power, f.daytrading_buying_power) == (D(4), D("120000"), D("120000"))
    poor = acc.model_copy(update={"last_equity": D("24000")})
    assert compute_figures(poor, MON).buying_power == D("60000")


@pytest.mark.parametrize("kind", [AccountType.IRA_ROTH, AccountType.IRA_TRADITIONAL])
def test_retirement_accounts_are_cash_like(kind: AccountType) -> None:
    acc = fill(account(kind, cash="5000"), "BUY", "20", "100")
    assert compute_figures(acc, MON).buying_power == D("3000")
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("SELL_SHORT", "1"), acc, D("100"), today=MON)
    assert info.value.code == "SHORT_NOT_ALLOWED"
    acc = fill(acc, "SELL", "20", "110")
    assert compute_figures(acc, MON).buying_power == D("3000")  # proceeds unsettled until Tuesday
    limited = acc.model_copy(update={"allow_unsettled_funds": True})
    assert compute_figures(limited, MON).buying_power == D("5200")


def test_reservations_hold_buying_power_until_filled() -> None:
    acc = account(AccountType.CASH)
    first = reservation_for(order("BUY", "60"), "acc", D("100"))
    totals = reserved_totals([first], "AAPL")
    assert totals == ReservedTotals(buying_power=D("6000"), orders=1)
    with pytest.raises(PreTradeRejectedError) as info:
        check_pre_trade(order("BUY", "50"), acc, D("100"), today=MON, reserved=totals)
    assert "reserved by 1 open order(s)" in info.value.message
    half = first.model_copy(update={"filled_quantity": D("30")})
    assert reserved_totals([half], "AAPL").buying_power == D("3000")
    assert reserved_totals([first], "AAPL", exclude="o1").orders == 0


def test_fee_differences_are_flagged() -> None:
    estimate = estimate_fees(ALPACA_EQUITIES, OrderSide.SELL, D("100"), D("200"))
    assert estimate == FeeEstimate(sec_fee=D("0.56"), finra_taf=D("0.02"))
    assert compare_fees(estimate, [("SEC_FEE", D("0.56")), ("FINRA_TAF", D("0.02"))]) == []
    (diff,) = compare_fees(estimate, [("SEC_FEE", D("0.56")), ("FINRA_TAF", D("0.02")), ("COMMISSION", D("1"))])
    assert diff.kind == "COMMISSION" and diff.difference == D("1")
    assert estimate_fees(ALPACA_EQUITIES, OrderSide.BUY, D("100"), D("200")).total == 0
    assert estimate_fees(ALPACA_EQUITIES, OrderSide.SELL, D("100000"), D("1")).finra_taf == D("8.30")


def test_merge_takes_the_brokers_figures_and_keeps_our_bookkeeping() -> None:
    from domain.broker_integration import Position
    from domain.broker_integration.rules.accounting import account_drift, merge_broker_snapshot

    ours = fill(fill(account(AccountType.CASH), "BUY", "10", "100"), "SELL", "4", "110")
    ours = ours.model_copy(update={"account_type": AccountType.IRA_ROTH, "allow_unsettled_funds": True})
    broker = account(AccountType.CASH, cash="9440", positions={"AAPL": Position(
        symbol="AAPL", quantity=D("6"), avg_entry_price=D("100"), market_value=D("690"))})
    assert account_drift(ours, broker) == []
    merged = merge_broker_snapshot(ours, broker, MON)
    assert merged.account_type is AccountType.IRA_ROTH and merged.allow_unsettled_funds
    assert merged.pending_settlements == ours.pending_settlements and merged.settled_cash == D("9000")
    assert merged.positions["AAPL"].realized_pnl == D("40") and merged.positions["AAPL"].last_price == D("115")
    assert merged.positions["AAPL"].unrealized_pnl == D("90")
    off = broker.model_copy(update={"cash": D("9439.98"), "positions": {"AAPL": Position(
        symbol="AAPL", quantity=D("5"), avg_entry_price=D("100"))}})
    assert [(d.field, d.ours, d.broker) for d in account_drift(ours, off)] == [
        ("cash", D("9440"), D("9439.98")), ("quantity", D("6"), D("5"))]


def test_a_snapshot_older_than_our_last_booking_does_not_undo_it() -> None:
    from datetime import UTC, datetime

    from domain.broker_integration.rules.accounting import is_stale, merge_broker_snapshot

    booked = fill(account(AccountType.CASH), "BUY", "10", "100").model_copy(
        update={"booked_at": datetime(2026, 11, 23, 15, 0, 1, tzinfo=UTC)})
    old = account(AccountType.CASH).model_copy(update={"updated_at": datetime(2026, 11, 23, 15, 0, tzinfo=UTC)})
    assert is_stale(booked, old)
    assert merge_broker_snapshot(booked, old, MON).cash == D("9000")  # our booking stands
    new = old.model_copy(update={"cash": D("9000"), "updated_at": datetime(2026, 11, 23, 15, 0, 2, tzinfo=UTC)})
    assert not is_stale(booked, new) and merge_broker_snapshot(booked, new, MON).cash == D("9000")


def test_one_closing_order_in_several_fills_is_one_day_trade() -> None:
    acc = account(AccountType.MARGIN, cash="20000")
    acc = apply_fill(acc, symbol="AAPL", side=OrderSide.BUY, quantity=D("100"), price=D("100"), trade_date=MON,
                     order_id="buy").account
    for part in ("30", "30", "40"):
        acc = apply_fill(acc, symbol="AAPL", side=OrderSide.SELL, quantity=D(part), price=D("101"),
                         trade_date=MON, order_id="sell").account
    assert acc.day_trades == [MON] and acc.day_trade_count == 1


def test_a_late_fill_dated_yesterday_does_not_reset_todays_openings() -> None:
    acc = fill(account(AccountType.MARGIN, cash="20000"), "BUY", "10", "100", day=MON)
    acc = fill(acc, "BUY", "5", "50", day=date(2026, 11, 20), symbol="MSFT")  # booked late
    assert acc.trade_date == MON and acc.opened_today["AAPL"] == D("10")
    assert fill(acc, "SELL", "10", "101").day_trades == [MON]


def test_fully_paid_shares_are_sold_first_no_false_violation() -> None:
    acc = account(AccountType.CASH, cash="0", positions={})
    acc = acc.model_copy(update={"positions": {"ABC": Position(symbol="ABC", quantity=D("50"),
                                                               avg_entry_price=D("100"))}})
    acc = acc.model_copy(update={"cash": D("1000"), "pending_settlements": [
        Settlement(amount=D("1000"), settles_on=TUE)]})
    acc = fill(acc, "BUY", "10", "100", symbol="ABC")  # paid with unsettled proceeds: 10 unfunded of 60
    effect = apply_fill(acc, symbol="ABC", side=OrderSide.SELL, quantity=D("50"), price=D("100"), trade_date=MON)
    assert effect.good_faith_violation is None
    check_pre_trade(order("SELL", "50", symbol="ABC"), acc, D("100"), today=MON)
    with pytest.raises(PreTradeRejectedError):
        check_pre_trade(order("SELL", "51", symbol="ABC"), acc, D("100"), today=MON)


def test_retirement_with_limited_margin_has_no_good_faith_rule() -> None:
    acc = account(AccountType.IRA_ROTH, cash="0", allow_unsettled_funds=True).model_copy(update={
        "cash": D("1000"), "pending_settlements": [Settlement(amount=D("1000"), settles_on=TUE)]})
    acc = fill(acc, "BUY", "10", "100", symbol="ABC")
    assert acc.unsettled_purchases == []
    check_pre_trade(order("SELL", "10", symbol="ABC"), acc, D("100"), today=MON)


def test_margin_below_two_thousand_cannot_borrow() -> None:
    assert compute_figures(account(AccountType.MARGIN, cash="1500"), MON).buying_power == D("1500")
    pdt = account(AccountType.MARGIN, cash="30000", pattern_day_trader=True, last_equity=D("60000"),
                  last_maintenance_margin=D("25000"))
    pdt = fill(pdt, "BUY", "300", "100")  # 30,000 long on 30,000 of equity
    f = compute_figures(pdt, MON)
    assert (f.regt_buying_power, f.daytrading_buying_power, f.buying_power) == (D("30000"), D("140000"),
                                                                                 D("140000"))


def test_an_option_fill_moves_cash_and_values_by_the_contract_multiplier() -> None:
    contract = "AAPL260320C00190000"
    acc = account(AccountType.MARGIN)
    bought = apply_fill(acc, symbol=contract, side=OrderSide.BUY, quantity=D("2"), price=D("5.09"), fees=D("1.30"),
                        trade_date=MON, asset_class=AssetClass.OPTION).account
    assert bought.cash == D("10000") - D("1018") - D("1.30")  # 2 contracts x 100 x 5.09, plus fees
    held = bought.positions[contract]
    assert held.asset_class is AssetClass.OPTION and held.quantity == 2 and held.avg_entry_price == D("5.09")
    assert held.market_value == D("1018") and held.unrealized_pnl == 0
    # The closing sale needs no asset class: the position knows it.
    sold = apply_fill(bought, symbol=contract, side=OrderSide.SELL, quantity=D("2"), price=D("6.00"), trade_date=TUE)
    assert sold.account.cash == bought.cash + D("1200")
    assert sold.account.realized_pnl == acc.realized_pnl + D("182")  # (6.00 - 5.09) x 2 x 100
    assert contract not in sold.account.positions


def test_an_equity_fill_is_unchanged_by_the_multiplier() -> None:
    acc = account(AccountType.MARGIN)
    bought = apply_fill(acc, symbol="AAPL", side=OrderSide.BUY, quantity=D("2"), price=D("5.09"), trade_date=MON)
    assert bought.account.cash == D("10000") - D("10.18")
    assert bought.account.positions["AAPL"].asset_class is AssetClass.EQUITY
