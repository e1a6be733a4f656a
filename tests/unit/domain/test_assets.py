"""Each asset class's precision, and the capability checks that use it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.broker_integration import AssetClass, BrokerCapabilities, BrokerOrder, OrderType, Position, TimeInForce
from domain.broker_integration.rules.assets import forex_pair, notional, precision_for, precision_problems
from domain.broker_integration.rules.buying_power import required_buying_power
from domain.broker_integration.rules.validation import capability_problems

D = Decimal
FX = BrokerCapabilities(broker="fxbroker", order_types=frozenset({OrderType.MARKET, OrderType.LIMIT}),
                        time_in_force=frozenset({TimeInForce.GTC, TimeInForce.FOK}),
                        asset_classes=frozenset({AssetClass.FOREX, AssetClass.CRYPTO, AssetClass.OPTION}))


def fx(symbol: str = "EUR/USD", quantity: str = "10000", **fields: object) -> BrokerOrder:
    return BrokerOrder(client_order_id="fx-1", symbol=symbol, side="BUY", quantity=quantity, asset_class="FOREX",
                       execution_params={"time_in_force": "GTC"}, **fields)


@pytest.mark.parametrize(("asset_class", "symbol", "step", "tick", "multiplier"), [
    (AssetClass.EQUITY, "AAPL", D(1), None, D(1)),
    (AssetClass.OPTION, "AAPL240621C00190000", D(1), D("0.01"), D(100)),
    (AssetClass.FOREX, "EUR/USD", D(1), D("0.00001"), D(1)),
    (AssetClass.FOREX, "USD/JPY", D(1), D("0.001"), D(1)),
    (AssetClass.CRYPTO, "BTC/USD", D("0.00000001"), D("0.01"), D(1)),
])
def test_precision_of_each_asset_class(asset_class: AssetClass, symbol: str, step: Decimal, tick: Decimal | None,
                                       multiplier: Decimal) -> None:
    precision = precision_for(asset_class, symbol)
    assert (precision.quantity_step, precision.price_tick, precision.multiplier) == (step, tick, multiplier)


def test_fractional_equities_step_finely() -> None:
    assert precision_for(AssetClass.EQUITY, "AAPL", fractional=True).quantity_step == D("0.000000001")


def test_forex_symbols_are_base_slash_quote() -> None:
    assert forex_pair("EUR/USD") == ("EUR", "USD")
    assert forex_pair("EURUSD") is None and forex_pair("EUR_USD") is None
    problems = precision_problems(AssetClass.FOREX, "EURUSD", D(1), {})
    assert [p.field for p in problems] == ["symbol"] and "BASE/QUOTE" in problems[0].message


def test_forex_orders_are_checked_against_pips_and_whole_units() -> None:
    assert capability_problems(fx(order_type="LIMIT", price="1.08512"), FX) == []
    assert capability_problems(fx("USD/JPY", order_type="LIMIT", price="150.125"), FX) == []
    too_fine = capability_problems(fx(order_type="LIMIT", price="1.085125"), FX)
    assert [p.field for p in too_fine] == ["price"] and "0.00001" in too_fine[0].message
    jpy = capability_problems(fx("USD/JPY", order_type="LIMIT", price="150.1255"), FX)
    assert [p.field for p in jpy] == ["price"] and "0.001" in jpy[0].message
    half_unit = capability_problems(fx(quantity="100.5"), FX)
    assert [p.field for p in half_unit] == ["quantity"] and "FOREX quantities are multiples of 1 units" in str(
        half_unit[0])


def test_crypto_takes_satoshis_but_not_less() -> None:
    def coin(quantity: str) -> BrokerOrder:
        return BrokerOrder(client_order_id="c-1", symbol="BTC/USD", side="BUY", quantity=quantity,
                           asset_class="CRYPTO", execution_params={"time_in_force": "GTC"})

    assert capability_problems(coin("0.00000001"), FX) == []
    assert [p.field for p in capability_problems(coin("0.000000001"), FX)] == ["quantity"]


def test_options_trade_whole_contracts() -> None:
    order = BrokerOrder(client_order_id="o-1", symbol="AAPL240621C00190000", side="BUY", quantity="1.5",
                        asset_class="OPTION", execution_params={"time_in_force": "GTC"})
    assert [p.field for p in capability_problems(order, FX)] == ["quantity"]


def test_equity_checks_are_unchanged() -> None:
    caps = BrokerCapabilities(broker="eq")
    order = BrokerOrder(client_order_id="e-1", symbol="AAPL", side="BUY", quantity="1.5")
    assert [str(p) for p in capability_problems(order, caps)] == [
        "quantity: eq does not accept fractional quantities"]


def test_positions_carry_their_asset_class() -> None:
    assert Position(symbol="AAPL", quantity=D(1)).asset_class is AssetClass.EQUITY
    held = Position(symbol="EUR/USD", quantity=D(-10000), asset_class="FOREX")
    assert held.asset_class is AssetClass.FOREX


def test_notional_in_the_account_currency() -> None:
    assert notional(AssetClass.FOREX, "EUR/USD", D(10000), D("1.085")) == D("10850.000")
    assert notional(AssetClass.FOREX, "USD/JPY", D(5000), D("156.5")) == D(5000)  # the base is the account's
    assert notional(AssetClass.OPTION, "AAPL240621C00190000", D(2), D("1.5")) == D("300.0")
    assert notional(AssetClass.EQUITY, "AAPL", D(3), D("10")) == D(30)


def test_buying_power_of_forex_and_options_orders() -> None:
    jpy = fx("USD/JPY", quantity="5000", order_type="LIMIT", price="150.125")
    assert required_buying_power(jpy, D("150"), "USD") == D(5000)
    option = BrokerOrder(client_order_id="o-2", symbol="AAPL240621C00190000", side="BUY", quantity="2",
                         order_type="LIMIT", price="1.50", asset_class="OPTION")
    assert required_buying_power(option, D("1.5")) == D("300.00")
