"""Options at the exchange core: OCC symbols, the price model, and contracts of 100 in cash, value and risk."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from simulator.core import Rejection
from simulator.core.options import OptionInstrument, list_option, option_price, parse_occ
from tests.simulator.helpers import exchange, order

D = Decimal
CALL = "AAPL260320C00190000"


def test_occ_symbols_are_taken_apart() -> None:
    occ = parse_occ(CALL)
    assert occ is not None and (occ.root, occ.expiry, occ.right, occ.strike) == (
        "AAPL",
        date(2026, 3, 20),
        "call",
        D("190"),
    )
    half = parse_occ("BRKB260320P00412500")
    assert half is not None and half.strike == D("412.5")
    for bad in (
        "AAPL",
        "AAPL260320C0019000",
        "AAPL260230C00190000",
        "aapl260320C00190000",
        "AAPL260320C00000000",
        "TOOLONGX260320C00190000",
    ):
        assert parse_occ(bad) is None, bad


def test_the_price_model_is_intrinsic_plus_a_time_value() -> None:
    occ, put = parse_occ(CALL), parse_occ("AAPL260320P00190000")
    assert occ is not None and put is not None
    today = date(2026, 3, 2)
    at_the_money = option_price(D("190"), occ, today)
    assert D("4") < at_the_money < D("8") and option_price(D("190"), put, today) == at_the_money
    deep = option_price(D("250"), occ, today)
    assert D("60") <= deep < D("60.5"), "deep in the money: intrinsic and almost no time value"
    assert option_price(D("100"), occ, today) == D("0.01"), "far out of the money: the minimum tick"
    assert option_price(D("200"), occ, date(2026, 3, 21)) == D("10"), "after expiry: intrinsic only"
    assert option_price(D("190"), occ, date(2026, 3, 19)) < at_the_money, "time value decays"


def test_a_contract_is_listed_on_first_use_and_follows_its_underlying() -> None:
    ex = exchange()
    option = list_option(ex.state, CALL)
    assert isinstance(option, OptionInstrument) and option.spec.multiplier == 100 and option.price == D("5.04")
    assert list_option(ex.state, CALL) is option
    ex.set_price("AAPL", D("200"))
    ex.advance(D(1))
    assert option.price > D("10")
    with pytest.raises(Rejection, match="could not find"):
        list_option(ex.state, "NOPE260320C00190000")
    with pytest.raises(Rejection, match="expired"):
        list_option(ex.state, "AAPL260227C00190000")


def test_cash_value_and_buying_power_count_the_multiplier() -> None:
    ex = exchange()
    list_option(ex.state, CALL)
    account = ex.state.accounts["ACC1"]
    cash = account.cash
    ex.submit("ACC1", order(CALL, "buy", "2"))
    assert account.cash == cash - 2 * D("5.09") * 100
    assert account.position_qty(CALL) == 2 and account.positions[CALL].avg_entry_price == D("5.09")
    assert ex.state.marks()[CALL] == D("504") and account.long_market_value(ex.state.marks()) == D("1008")
    ex.submit("ACC1", order(CALL, "sell", "2"))
    assert account.cash == cash - 2 * D("0.10") * 100, "bought at the ask, sold at the bid"
    small = ex.state.accounts["ACC2"]  # cash account, 50,000
    list_option(ex.state, CALL)
    with pytest.raises(Rejection, match="insufficient buying power"):
        ex.submit("ACC2", order(CALL, "buy", "100", "limit", limit_price="5.10"))
    assert small.position_qty(CALL) == 0
