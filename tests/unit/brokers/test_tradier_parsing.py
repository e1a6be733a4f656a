"""Tradier payloads (tests/resources/tradier, Tradier's documented shapes) into domain terms, and back."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from brokers.tradier import parsing
from brokers.tradier.errors import TradierProtocolError, TradierUnsupportedOrderError
from brokers.tradier.schemas import TradierBalances, TradierOrder, TradierPosition, items
from domain.broker_integration import AccountType, BrokerOrder, ExecutionParameters, OrderAmendment, OrderStatus

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "tradier"


def load(name: str) -> Any:
    return json.loads((RESOURCES / f"{name}.json").read_text())


def orders(key: str) -> list[TradierOrder]:
    return [TradierOrder.model_validate(o) for o in items(load("orders")[key], "orders", "order")]


def test_collections_of_many_one_and_none() -> None:
    assert [o.id for o in orders("list")] == [228175, 228176, 228177, 228178]
    assert [o.id for o in orders("single")] == [228175]
    assert orders("empty") == []
    assert len(items(load("positions")["single"], "positions", "position")) == 1
    assert items(load("positions")["empty"], "positions", "position") == []
    with pytest.raises(TradierProtocolError):
        items({"orders": 5}, "orders", "order")


def test_order_snapshots() -> None:
    open_, partial, rejected, filled = (parsing.order_snapshot(o) for o in orders("list"))
    assert (open_.client_order_id, open_.status, open_.limit_price, open_.stop_price) == (
        "strat7-0001", OrderStatus.ACCEPTED, Decimal("180"), None)
    assert open_.submitted_at is not None and open_.submitted_at.isoformat() == "2026-03-02T14:02:29.682000+00:00"
    assert partial.client_order_id == "228176", "an untagged order is named by its id"
    assert (partial.status, partial.filled_quantity, partial.filled_avg_price) == (
        OrderStatus.PARTIALLY_FILLED, Decimal("40"), Decimal("512.3"))
    assert (rejected.status, rejected.reason) == (OrderStatus.REJECTED, "Buying power exceeded")
    assert (rejected.limit_price, rejected.stop_price) == (Decimal("411"), Decimal("410.5"))
    assert (filled.status, filled.stop_price, filled.limit_price) == (OrderStatus.FILLED, Decimal("199.5"), None)


def test_sides_round_trip() -> None:
    sides = [parsing.side_of(o) for o in orders("list")]
    assert [str(s) for s in sides] == ["BUY", "SELL_SHORT", "BUY_TO_COVER", "SELL"]
    assert {parsing.SIDE_TO_TRADIER[s] for s in sides} == {"buy", "sell_short", "buy_to_cover", "sell"}


def test_numbers_become_exact_decimals() -> None:
    assert parsing.decimal_or_none(150.1) == Decimal("150.1")
    assert parsing.decimal_or_none(17798.360000000000000000000000) == Decimal("17798.36")
    assert parsing.decimal_or_none(None) is None
    with pytest.raises(TradierProtocolError):
        parsing.decimal_or_none("abc")


@pytest.mark.parametrize(("key", "kind", "power", "settled"), [
    ("margin", AccountType.MARGIN, Decimal("12727.72"), Decimal("6363.86")),
    ("cash", AccountType.CASH, Decimal("950"), Decimal("950")),
    ("pdt", AccountType.MARGIN, Decimal("72000"), Decimal("36000")),
])
def test_balances_by_account_type(key: str, kind: AccountType, power: Decimal, settled: Decimal) -> None:
    wire = TradierBalances.model_validate(load("balances")[key]["balances"])
    positions = [TradierPosition.model_validate(p) for p in items(load("positions")["list"], "positions", "position")]
    account = parsing.broker_account(wire, positions, "conn")
    assert (account.account_type, account.buying_power, account.settled_cash) == (kind, power, settled)
    assert account.pattern_day_trader is (key == "pdt") and account.shorting_enabled is (kind is AccountType.MARGIN)
    assert account.positions["SPY"].quantity == Decimal("-10")
    assert account.positions["SPY"].avg_entry_price == Decimal("512.3")


def order(**fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": "bf-1", "symbol": "AAPL", "side": "SELL_SHORT", "quantity": "10",
                            "order_type": "STOP_LIMIT", "price": "150.5", "stop_price": "151"}
    return BrokerOrder(**(data | fields))


def test_order_form_is_what_tradier_documents() -> None:
    assert parsing.order_form(order()) == {
        "class": "equity", "symbol": "AAPL", "side": "sell_short", "quantity": "10", "type": "stop_limit",
        "duration": "day", "tag": "bf-1", "price": "150.5", "stop": "151"}


@pytest.mark.parametrize(("fields", "needle"), [
    ({"order_type": "TRAILING_STOP", "price": None, "stop_price": None, "trail_price": "1"}, "TRAILING_STOP"),
    ({"execution_params": ExecutionParameters(time_in_force="IOC")}, "IOC"),
    ({"quantity": "1.5"}, "fractional"),
    ({"client_order_id": "has_underscore"}, "tag"),
    ({"asset_class": "OPTION"}, "OPTION"),
    ({"order_type": "LIMIT", "stop_price": None,
      "execution_params": ExecutionParameters(time_in_force="DAY", extended_hours=True)}, "extended hours"),
])
def test_what_tradier_cannot_do_is_refused_before_sending(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(TradierUnsupportedOrderError, match=needle):
        parsing.order_form(order(**fields))


def test_modify_form_changes_prices_only() -> None:
    current = orders("list")[2]  # stop_limit 411 / 410.5, quantity 5
    assert parsing.modify_form(OrderAmendment(limit_price="412", stop_price="411"), current) == {
        "price": "412", "stop": "411"}
    assert parsing.modify_form(OrderAmendment(quantity="5", limit_price="412"), current) == {"price": "412"}
    with pytest.raises(TradierUnsupportedOrderError, match="quantity"):
        parsing.modify_form(OrderAmendment(quantity="6"), current)
    with pytest.raises(TradierUnsupportedOrderError, match="no stop price"):
        parsing.modify_form(OrderAmendment(stop_price="1"), orders("list")[0])
    assert parsing.amendment_applied(OrderAmendment(limit_price="411"), current)
    assert not parsing.amendment_applied(OrderAmendment(limit_price="412"), current)
