"""Worked examples: forex and crypto post notional x the broker's margin rate out of margin available (not Reg T),
equities stay on Reg T; the two exits of an OCO hold their position once."""

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
)
from domain.broker_integration.rules.buying_power import (
    ReservedTotals,
    check_pre_trade,
    exit_pair,
    required_buying_power,
    reservation_for,
    reserved_totals,
)
from domain.broker_integration.rules.margin import compute_figures, margin_rate

MON = date(2026, 11, 23)
FX = AssetClass.FOREX
EURUSD = D("1.08500")


def fx_account(cash: str = "10000", rates: dict[str, D] | None = None, **kw: object) -> BrokerAccount:
    """An OANDA-like margin account: 50:1 on forex unless `rates` says otherwise."""
    return BrokerAccount(
        account_id="fx",
        connection_id="oanda",
        account_number="101-001-1000001-001",
        account_type=AccountType.MARGIN,
        cash=D(cash),
        settled_cash=D(cash),
        equity=D(cash),
        shorting_enabled=True,
        trade_date=MON,
        margin_rates={"FOREX": D("0.02")} if rates is None else rates,
        **kw,
    )


def fx_order(qty: str, side: str = "BUY", symbol: str = "EUR/USD", cid: str = "o1", **kw: object) -> BrokerOrder:
    return BrokerOrder(client_order_id=cid, symbol=symbol, side=side, quantity=D(qty), asset_class=FX, **kw)


def refusal(order: BrokerOrder, account: BrokerAccount, price: D, **kw: object) -> PreTradeRejectedError:
    with pytest.raises(PreTradeRejectedError) as caught:
        check_pre_trade(order, account, price, today=MON, **kw)  # type: ignore[arg-type]
    return caught.value


def test_rates_come_from_the_account_by_symbol_then_asset_class() -> None:
    acc = fx_account(rates={"FOREX": D("0.02"), "GBP/USD": D("0.05")})
    assert margin_rate(acc, FX, "EUR/USD") == D("0.02")
    assert margin_rate(acc, FX, "GBP/USD") == D("0.05")
    assert margin_rate(acc, AssetClass.CRYPTO, "BTC/USD") == D(1)  # cash unless the account says otherwise
    assert margin_rate(fx_account(rates={"CRYPTO": D("0.5")}), AssetClass.CRYPTO, "BTC/USD") == D("0.5")
    assert margin_rate(acc, AssetClass.EQUITY, "AAPL") is None  # Reg T, whatever the account reports
    assert margin_rate(fx_account(rates={}), FX, "EUR/USD") is None  # no rate given: the account type's rules


def test_fifty_to_one_allows_what_reg_t_would_refuse() -> None:
    acc = fx_account()
    order = fx_order("300000")  # 325,500 of EUR/USD; Reg T buying power would be 20,000
    figures = check_pre_trade(order, acc, EURUSD, today=MON)
    assert figures.regt_buying_power == D("20000")
    assert (figures.margin_used, figures.margin_available) == (D("0"), D("10000"))
    assert required_buying_power(order, EURUSD) * D("0.02") == D("6510.00000")
    without_rates = fx_account(rates={})
    assert refusal(order, without_rates, EURUSD).code == "INSUFFICIENT_BUYING_POWER"


def test_margin_refusal_names_the_rate_and_the_amounts() -> None:
    err = refusal(fx_order("500000"), fx_account(), EURUSD)  # 542,500 x 0.02 = 10,850 > 10,000
    assert err.code == "INSUFFICIENT_MARGIN"
    assert err.message == (
        "order needs $10,850.00 margin: EUR/USD notional $542,500.00 at margin rate 0.02 (50:1); margin available "
        "$10,000.00 (equity $10,000.00, margin used $0.00) less $0.00 reserved by 0 open order(s) leaves $10,000.00"
    )


def test_open_positions_use_margin_at_their_rate() -> None:
    # 100,000 EUR/USD held, marked at 1.085: 108,500 x 0.02 = 2,170 used; equity 10,000 leaves 7,830.
    held = Position(symbol="EUR/USD", quantity=D("100000"), asset_class=FX, market_value=D("108500"))
    acc = fx_account(cash="-98500", positions={"EUR/USD": held}).model_copy(update={"equity": D("10000")})
    figures = compute_figures(acc, MON)
    assert (figures.equity, figures.margin_used, figures.margin_available) == (D("10000"), D("2170.00"), D("7830.00"))
    check_pre_trade(fx_order("360829"), acc, EURUSD, today=MON)  # 0.0217 x 360,829 = 7,829.9893
    err = refusal(fx_order("360830"), acc, EURUSD)  # 7,830.011
    assert err.code == "INSUFFICIENT_MARGIN" and "leaves $7,830.00" in err.message


def test_the_brokers_lower_margin_available_wins() -> None:
    acc = fx_account(margin_available=D("5000"))
    assert compute_figures(acc, MON).margin_available == D("5000")
    check_pre_trade(fx_order("230414"), acc, EURUSD, today=MON)  # 4,999.98
    assert refusal(fx_order("230415"), acc, EURUSD).code == "INSUFFICIENT_MARGIN"


def test_other_orders_reservations_hold_margin() -> None:
    acc = fx_account()
    first = reservation_for(fx_order("200000", cid="first"), "fx", D("1"))  # 200,000 notional: 4,000 of margin
    reserved = reserved_totals([first], "EUR/USD")
    check_pre_trade(fx_order("276497"), acc, EURUSD, today=MON, reserved=reserved)  # 5,999.98
    err = refusal(fx_order("276498"), acc, EURUSD, reserved=reserved)
    assert "less $4,000.00 reserved by 1 open order(s) leaves $6,000.00" in err.message


def test_a_per_instrument_rate_overrides_the_account_rate() -> None:
    acc = fx_account(rates={"FOREX": D("0.02"), "GBP/USD": D("0.05")})
    check_pre_trade(fx_order("160000", symbol="GBP/USD"), acc, D("1.25"), today=MON)  # 200,000 x 0.05 = 10,000
    err = refusal(fx_order("160001", symbol="GBP/USD"), acc, D("1.25"))  # 10,000.0625
    assert err.code == "INSUFFICIENT_MARGIN" and "margin rate 0.05 (20:1)" in err.message
    assert "needs $10,000.06 margin" in err.message


def test_a_forex_short_posts_margin_on_its_notional_without_the_equity_buffer() -> None:
    acc = fx_account()
    short = fx_order("400000", side="SELL_SHORT")
    assert required_buying_power(short, EURUSD) == D("434000.00000")  # no x 1.03
    check_pre_trade(short, acc, EURUSD, today=MON)  # 8,680 of margin
    assert refusal(fx_order("500000", side="SELL_SHORT"), acc, EURUSD).code == "INSUFFICIENT_MARGIN"


def test_crypto_in_a_margin_account_is_cash_unless_the_account_says_otherwise() -> None:
    acc = fx_account(rates={})  # e.g. Alpaca: Reg T buying power 20,000, crypto not marginable
    btc = BrokerOrder(
        client_order_id="c1", symbol="BTC/USD", side="BUY", quantity=D("0.15"), asset_class=AssetClass.CRYPTO
    )
    check_pre_trade(btc, acc, D("60000"), today=MON)  # 9,000
    big = btc.model_copy(update={"quantity": D("0.2")})  # 12,000: Reg T would allow it
    err = refusal(big, acc, D("60000"))
    assert err.code == "INSUFFICIENT_MARGIN" and "margin rate 1 (1:1)" in err.message
    check_pre_trade(big, fx_account(rates={"CRYPTO": D("0.5")}), D("60000"), today=MON)  # 6,000 of margin


def test_equities_stay_on_reg_t_in_an_account_with_forex_rates() -> None:
    aapl = BrokerOrder(client_order_id="e1", symbol="AAPL", side="BUY", quantity=D("150"))
    err = refusal(aapl, fx_account(), D("200"))  # 30,000 > Reg T 20,000 (50:1 would allow it)
    assert err.code == "INSUFFICIENT_BUYING_POWER" and "Reg T buying power $20,000.00" in err.message


def test_forex_day_trades_are_not_pattern_day_trades() -> None:
    held = Position(symbol="EUR/USD", quantity=D("1000"), asset_class=FX, market_value=D("1085"))
    acc = fx_account(positions={"EUR/USD": held}, day_trade_count=3, opened_today={"EUR/USD": D("1000")})
    check_pre_trade(fx_order("1000", side="SELL"), acc, EURUSD, today=MON)  # equity 10,000 < 25,000: no PDT
    stock = Position(symbol="AAPL", quantity=D("10"), market_value=D("2000"))
    equity_acc = fx_account(positions={"AAPL": stock}, day_trade_count=3, opened_today={"AAPL": D("10")})
    sell = BrokerOrder(client_order_id="e2", symbol="AAPL", side="SELL", quantity=D("10"))
    assert refusal(sell, equity_acc, D("200")).code == "PATTERN_DAY_TRADER"


def test_the_exits_of_an_oco_hold_their_position_once() -> None:
    assert (exit_pair("g1-tp"), exit_pair("g1-sl"), exit_pair("g1-en"), exit_pair("-tp")) == ("g1", "g1", None, None)
    stock = Position(symbol="MSFT", quantity=D("10"), market_value=D("4100"))
    acc = BrokerAccount(
        account_id="a",
        connection_id="c",
        account_number="PA1",
        account_type=AccountType.MARGIN,
        cash=D("10000"),
        equity=D("14100"),
        positions={"MSFT": stock},
        trade_date=MON,
    )
    tp = BrokerOrder(
        client_order_id="g1-tp",
        symbol="MSFT",
        side=OrderSide.SELL,
        quantity=D("10"),
        order_type="LIMIT",
        price=D("420"),
    )
    sl = BrokerOrder(
        client_order_id="g1-sl",
        symbol="MSFT",
        side=OrderSide.SELL,
        quantity=D("10"),
        order_type="STOP",
        stop_price=D("400"),
    )
    held_tp = reservation_for(tp, "a", D("410"))
    check_pre_trade(sl, acc, D("410"), today=MON, reserved=reserved_totals([held_tp], "MSFT"))
    both = reserved_totals([held_tp, reservation_for(sl, "a", D("410"))], "MSFT")
    assert (both.sell_quantity, both.orders, both.pair_sell_quantity) == (D("10"), 2, {"g1": D("10")})
    other = BrokerOrder(client_order_id="x1", symbol="MSFT", side=OrderSide.SELL, quantity=D("1"))
    err = refusal(other, acc, D("410"), reserved=both)
    assert err.message == "sell 1 MSFT but only 0 available (held 10, 10 in open sells)"
    # Orders of another group, or plain orders, still count one by one.
    lone = reservation_for(other.model_copy(update={"client_order_id": "g2-tp", "quantity": D("6")}), "a", D("1"))
    err = refusal(sl, acc, D("410"), reserved=reserved_totals([held_tp, lone], "MSFT"))
    assert "only 4 available (held 10, 6 in open sells)" in err.message


def test_buy_exits_covering_a_short_hold_buying_power_once() -> None:
    tp = BrokerOrder(
        client_order_id="g3-tp", symbol="MSFT", side=OrderSide.BUY, quantity=D("10"), order_type="LIMIT", price=D("390")
    )
    sl = BrokerOrder(
        client_order_id="g3-sl",
        symbol="MSFT",
        side=OrderSide.BUY,
        quantity=D("10"),
        order_type="STOP",
        stop_price=D("430"),
    )
    totals = reserved_totals([reservation_for(tp, "a", D("410")), reservation_for(sl, "a", D("410"))], "MSFT")
    assert totals.buying_power == D("4300")  # the larger, not 3,900 + 4,300
    assert totals.excluding_pair(tp) == ReservedTotals(buying_power=D("0"), orders=1)
