"""OANDA's wire format to the domain and back (pure), on payloads under tests/resources/oanda."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brokers.oanda import OandaProtocolError, OandaUnsupportedOrderError, parsing
from brokers.oanda.schemas import OandaAccountSummary, OandaOrder, OandaPosition, OandaTransaction
from domain.broker_integration import AssetClass, BrokerOrder, OrderAmendment, OrderSide, OrderStatus

D = Decimal
RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "oanda"


def load(name: str) -> Any:
    return json.loads((RESOURCES / f"{name}.json").read_text())


def fx(**fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": "bf-1", "symbol": "EUR/USD", "side": "BUY", "quantity": "10000",
                            "asset_class": "FOREX", "execution_params": {"time_in_force": "FOK"}}
    return BrokerOrder(**(data | fields))


def test_symbols_map_both_ways() -> None:
    assert parsing.to_instrument("EUR/USD") == "EUR_USD" and parsing.from_instrument("USD_JPY") == "USD/JPY"
    assert parsing.from_instrument("SPX500_USD") == "SPX500_USD"  # a CFD keeps OANDA's name
    with pytest.raises(OandaUnsupportedOrderError, match="BASE/QUOTE"):
        parsing.to_instrument("EURUSD")


def test_order_requests_have_signed_units_and_string_decimals() -> None:
    assert parsing.order_request(fx()) == {
        "type": "MARKET", "instrument": "EUR_USD", "units": "10000", "timeInForce": "FOK", "positionFill": "DEFAULT",
        "clientExtensions": {"id": "bf-1", "tag": "brokerflow"}}
    short = parsing.order_request(fx(side="SELL_SHORT", order_type="LIMIT", price="1.09125",
                                     execution_params={"time_in_force": "DAY"}))
    assert (short["units"], short["price"], short["timeInForce"]) == ("-10000", "1.09125", "GFD")
    gtd = parsing.order_request(fx(order_type="STOP", stop_price="1.1", execution_params={
        "time_in_force": "GTD", "expire_at": datetime(2026, 3, 3, 12, tzinfo=UTC)}))
    assert (gtd["type"], gtd["price"], gtd["gtdTime"]) == ("STOP", "1.1", "2026-03-03T12:00:00.000000Z")


@pytest.mark.parametrize(("fields", "reason"), [
    ({"asset_class": "EQUITY", "symbol": "AAPL"}, "forex only"),
    ({"order_type": "STOP_LIMIT", "price": "1.1", "stop_price": "1.1",
      "execution_params": {"time_in_force": "GTC"}}, "MARKET, LIMIT and STOP only"),
    ({"execution_params": {"time_in_force": "DAY"}}, "FOK or IOC only"),
    ({"order_type": "LIMIT", "price": "1.1", "execution_params": {"time_in_force": "OPG"}}, "time in force OPG"),
    ({"quantity": "10.5"}, "fractional units"),
])
def test_what_oanda_cannot_do_is_refused_with_the_reason(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(OandaUnsupportedOrderError, match=reason):
        parsing.order_request(fx(**fields))


def test_a_fill_is_an_execution_in_domain_terms() -> None:
    fill = OandaTransaction.model_validate(load("create_market_filled")["orderFillTransaction"])
    report = parsing.execution_report(fill, "strat7-0001", "conn", D(10000), OrderSide.SELL_SHORT)
    assert (report.execution_id, report.broker_order_id, report.symbol) == ("101-004-1234567-001:6373", "6372",
                                                                           "EUR/USD")
    assert (report.side, report.quantity, report.price) == (OrderSide.SELL_SHORT, D(10000), D("1.08493"))
    assert report.executed_at == datetime(2026, 3, 2, 15, 4, 10, 123456, tzinfo=UTC)
    assert parsing.execution_report(fill, "x", None, None).side is OrderSide.SELL  # by the units' sign


def test_a_replacement_order_snapshot() -> None:
    wire = OandaOrder.model_validate(load("order_limit_pending")["order"])
    snapshot = parsing.order_snapshot(wire, [])
    assert (snapshot.broker_order_id, snapshot.client_order_id, snapshot.status) == ("6375", "bf-limit-1",
                                                                                     OrderStatus.ACCEPTED)
    assert (snapshot.symbol, snapshot.quantity, snapshot.limit_price, snapshot.replaces) == (
        "USD/JPY", D(5000), D("150.125"), "6374")
    replaced = wire.model_copy(update={"state": "CANCELLED", "replacedByOrderID": "6377"})
    assert parsing.order_snapshot(replaced, [], "CLIENT_REQUEST_REPLACED").status is OrderStatus.ACCEPTED
    expired = wire.model_copy(update={"state": "CANCELLED"})
    assert parsing.order_snapshot(expired, [], "TIME_IN_FORCE_EXPIRED").status is OrderStatus.EXPIRED


def test_replace_requests_keep_type_and_side_and_name_the_replacement() -> None:
    wire = OandaOrder.model_validate(load("order_limit_pending")["order"])
    body = parsing.replace_request(OrderAmendment(limit_price="150.5"), wire, D(2000))
    assert (body["type"], body["units"], body["price"]) == ("LIMIT", "3000", "150.5")
    assert body["clientExtensions"]["id"] == parsing.replacement_client_id("bf-limit-1", "6375")
    assert parsing.root_client_order_id(body["clientExtensions"]["id"]) == "bf-limit-1"
    with pytest.raises(OandaUnsupportedOrderError, match="no such price"):
        parsing.replace_request(OrderAmendment(stop_price="149"), wire, D(0))


def test_account_and_positions_in_the_domain_s_cash_terms() -> None:
    summary = OandaAccountSummary.model_validate(load("account_summary")["account"])
    positions = [OandaPosition.model_validate(p) for p in load("open_positions")["positions"]]
    account = parsing.broker_account(summary, positions, "conn")
    (held,) = account.positions.values()
    assert (held.symbol, held.quantity, held.asset_class, held.avg_entry_price) == (
        "EUR/USD", D(-10000), AssetClass.FOREX, D("1.08493"))
    assert account.equity == D("99986.0000") and account.cash + held.market_value == account.equity
    assert account.buying_power == D("99769.0000") / D("0.02") and account.shorting_enabled


def test_unreadable_numbers_are_protocol_errors() -> None:
    with pytest.raises(OandaProtocolError):
        parsing.decimal_or_none("1,5")
    with pytest.raises(OandaProtocolError):
        parsing.parse_timestamp("yesterday")
