"""Alpaca order classes: a group becomes one POST body; a nested parent parses into legs by role."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokers.alpaca.errors import AlpacaProtocolError
from brokers.alpaca.gateway import ALPACA_CAPABILITIES
from brokers.alpaca.groups import group_legs, group_request
from brokers.alpaca.schemas import AlpacaOrder
from domain.broker_integration import LegRole, OrderGroupRequest, OrderStatus

from .conftest import load


def bracket(**entry: object) -> OrderGroupRequest:
    legs = [
        {"role": "ENTRY", "side": "BUY", "quantity": 10, "order_type": "MARKET", "time_in_force": "GTC", **entry},
        {"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": "195"},
        {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP_LIMIT", "stop_price": "182",
         "limit_price": "181.50"},
    ]
    return OrderGroupRequest(group_id="g1", kind="BRACKET", symbol="AAPL", legs=legs, connection_id="alpaca")


def test_capabilities_say_order_classes() -> None:
    assert ALPACA_CAPABILITIES.supports_order_classes


def test_bracket_request_matches_the_documented_body() -> None:
    body = group_request(bracket(order_type="LIMIT", limit_price="187.50")).to_json()
    assert body == {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "limit", "time_in_force": "gtc",
                    "limit_price": "187.5", "client_order_id": "g1-en", "order_class": "bracket",
                    "take_profit": {"limit_price": "195"}, "stop_loss": {"stop_price": "182", "limit_price": "181.5"},
                    "extended_hours": False}


def test_oco_request_is_the_take_profit_with_the_stop() -> None:
    legs = [{"role": "TAKE_PROFIT", "side": "SELL", "quantity": 5, "order_type": "LIMIT", "limit_price": "195"},
            {"role": "STOP_LOSS", "side": "SELL", "quantity": 5, "order_type": "STOP", "stop_price": "180"}]
    group = OrderGroupRequest(group_id="o1", kind="OCO", symbol="AAPL", legs=legs, connection_id="alpaca")
    body = group_request(group).to_json()
    assert (body["client_order_id"], body["type"], body["limit_price"], body["order_class"]) == (
        "o1-tp", "limit", "195", "oco")
    assert body["stop_loss"] == {"stop_price": "180"}


def test_nested_parent_parses_into_legs_by_role() -> None:
    legs = group_legs(AlpacaOrder.model_validate(load("bracket_nested")), bracket())
    assert set(legs) == {LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS}
    assert legs[LegRole.ENTRY].status is OrderStatus.FILLED and legs[LegRole.ENTRY].filled_quantity == 10
    assert legs[LegRole.TAKE_PROFIT].limit_price == Decimal("195")
    assert legs[LegRole.STOP_LOSS].status is OrderStatus.ACCEPTED  # held: waiting, not refused


def test_an_unexpected_leg_is_a_protocol_error() -> None:
    payload = load("bracket_nested")
    payload["legs"][1]["type"] = "limit"
    with pytest.raises(AlpacaProtocolError):
        group_legs(AlpacaOrder.model_validate(payload), bracket())
