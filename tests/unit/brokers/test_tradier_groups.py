"""Tradier's otoco/oco/oto classes: the indexed form, the `leg` quirks (one object, "null"), legs by role, and the
gateway's native group path against a scripted Tradier (tests/resources/tradier/group_orders.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from brokers.tradier import TRADIER_CAPABILITIES, groups
from brokers.tradier.errors import TradierPositionEffectError, TradierProtocolError, TradierUnsupportedOrderError
from brokers.tradier.schemas import TradierGroupOrder
from domain.broker_integration import LegRole, OrderGroupRequest, OrderStatus
from tests.unit.brokers.test_tradier_gateway import FakeTradier, gateway

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "tradier"
GROUPS = json.loads((RESOURCES / "group_orders.json").read_text())
CALL = "AAPL260320C00190000"
R = LegRole


def bracket(
    gid: str = "g1",
    symbol: str = "AAPL",
    asset_class: str = "EQUITY",
    prices: tuple[str, str, str] = ("187.60", "195", "180"),
    **entry: Any,
) -> OrderGroupRequest:
    legs = [
        {
            "role": "ENTRY",
            "side": "BUY",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": prices[0],
            "time_in_force": "GTC",
        }
        | entry,
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": 10,
            "order_type": "LIMIT",
            "limit_price": prices[1],
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": 10,
            "order_type": "STOP",
            "stop_price": prices[2],
            "time_in_force": "GTC",
        },
    ]
    return OrderGroupRequest(
        group_id=gid, kind="BRACKET", symbol=symbol, asset_class=asset_class, legs=legs, connection_id="conn"
    )


def oco(
    gid: str = "g2", symbol: str = "MSFT", asset_class: str = "EQUITY", sl_tif: str = "GTC", qty: str = "10"
) -> OrderGroupRequest:
    legs = [
        {
            "role": "TAKE_PROFIT",
            "side": "SELL",
            "quantity": qty,
            "order_type": "LIMIT",
            "limit_price": "420",
            "time_in_force": "GTC",
        },
        {
            "role": "STOP_LOSS",
            "side": "SELL",
            "quantity": qty,
            "order_type": "STOP",
            "stop_price": "400",
            "time_in_force": sl_tif,
        },
    ]
    return OrderGroupRequest(
        group_id=gid, kind="OCO", symbol=symbol, asset_class=asset_class, legs=legs, connection_id="conn"
    )


def parent(name: str) -> TradierGroupOrder:
    return TradierGroupOrder.model_validate(GROUPS[name]["order"])


def test_an_equity_oco_form() -> None:
    group = oco()
    assert groups.group_form(group, groups.leg_sides(group)) == {
        "class": "oco",
        "tag": "g2-tp",
        "symbol[0]": "MSFT",
        "side[0]": "sell",
        "quantity[0]": "10",
        "type[0]": "limit",
        "duration[0]": "gtc",
        "price[0]": "420",
        "symbol[1]": "MSFT",
        "side[1]": "sell",
        "quantity[1]": "10",
        "type[1]": "stop",
        "duration[1]": "gtc",
        "stop[1]": "400",
    }


def test_an_option_bracket_form_opens_then_closes() -> None:
    group = bracket(symbol=CALL, asset_class="OPTION", prices=("5.10", "9", "2"))
    sides = groups.leg_sides(group, Decimal(0))
    assert sides == {R.ENTRY: "buy_to_open", R.TAKE_PROFIT: "sell_to_close", R.STOP_LOSS: "sell_to_close"}
    form = groups.group_form(group, sides)
    assert form["class"] == "otoco" and form["tag"] == "g1-en"
    assert [form[f"option_symbol[{i}]"] for i in range(3)] == [CALL] * 3
    assert [form[f"symbol[{i}]"] for i in range(3)] == ["AAPL"] * 3
    assert [form[f"type[{i}]"] for i in range(3)] == ["limit", "limit", "stop"]
    short = groups.leg_sides(bracket(symbol=CALL, asset_class="OPTION", prices=("5.10", "9", "2")), Decimal(-10))
    assert short[R.ENTRY] == "buy_to_close" and short[R.STOP_LOSS] == "sell_to_open"


def test_an_option_oco_closes_what_is_held() -> None:
    group = oco(symbol=CALL, asset_class="OPTION")
    assert groups.leg_sides(group, Decimal(10)) == {R.TAKE_PROFIT: "sell_to_close", R.STOP_LOSS: "sell_to_close"}
    with pytest.raises(TradierPositionEffectError):
        groups.leg_sides(group, Decimal(0))


def test_an_oto_and_a_market_entry() -> None:
    legs = [
        {"role": "ENTRY", "side": "SELL_SHORT", "quantity": 5, "order_type": "MARKET"},
        {"role": "STOP_LOSS", "side": "BUY_TO_COVER", "quantity": 5, "order_type": "STOP", "stop_price": "200"},
    ]
    group = OrderGroupRequest(group_id="g5", kind="OTO", symbol="AAPL", legs=legs, connection_id="conn")
    form = groups.group_form(group, groups.leg_sides(group))
    assert (form["class"], form["type[0]"], form["side[0]"], form["side[1]"], form["stop[1]"]) == (
        "oto",
        "market",
        "sell_short",
        "buy_to_cover",
        "200",
    )
    assert "price[0]" not in form and groups.wire_roles(group) == (R.ENTRY, R.STOP_LOSS)


@pytest.mark.parametrize(
    ("group", "why"),
    [
        (oco(sl_tif="DAY"), "different times in force"),
        (oco(gid="g.2"), "tag 'g.2-tp'"),
        (oco(symbol="AAPL", asset_class="OPTION"), "not an OCC option symbol"),
        (oco(qty="2.5"), "fractional quantities"),
        (bracket(time_in_force="IOC"), "time in force IOC"),
    ],
)
def test_groups_tradier_cannot_hold_are_refused_unsent(group: OrderGroupRequest, why: str) -> None:
    with pytest.raises(TradierUnsupportedOrderError, match=why):
        groups.check_native(group)


def test_a_group_tradier_can_hold_has_no_problems() -> None:
    assert groups.native_problems(bracket()) == groups.native_problems(oco()) == []


def test_legs_come_as_a_list_one_object_null_or_one_level_deeper() -> None:
    assert [leg.id for leg in groups.leg_wires(parent("otoco"))] == [300002, 300003, 300004]
    assert [leg.id for leg in groups.leg_wires(parent("oco_one_leg"))] == [300012]
    assert groups.leg_wires(parent("oco_null_legs")) == []
    assert [leg.id for leg in groups.leg_wires(parent("oco_nested_legs"))] == [300012, 300013]
    assert groups.is_group(GROUPS["oco"]["order"]) and not groups.is_group({"class": "equity"})
    assert not groups.is_group("null")


def test_legs_by_role() -> None:
    legs = groups.group_legs(parent("otoco"), bracket())
    assert {role: s.broker_order_id for role, s in legs.items()} == {
        R.ENTRY: "300002",
        R.TAKE_PROFIT: "300003",
        R.STOP_LOSS: "300004",
    }
    assert [s.client_order_id for s in legs.values()] == ["g1-en", "g1-tp", "g1-sl"]
    assert (legs[R.ENTRY].status, legs[R.ENTRY].filled_quantity) == (OrderStatus.FILLED, Decimal(10))
    assert legs[R.STOP_LOSS].stop_price == Decimal(180) and legs[R.TAKE_PROFIT].status is OrderStatus.ACCEPTED
    minimal = groups.group_legs(parent("otoco_minimal"), bracket())
    assert minimal == legs, "the group's own terms are not needed"
    done = groups.group_legs(parent("oco"), oco())
    assert (done[R.TAKE_PROFIT].status, done[R.STOP_LOSS].status) == (OrderStatus.FILLED, OrderStatus.CANCELED)


@pytest.mark.parametrize(
    ("name", "group", "why"),
    [
        ("oco_one_leg", oco(), "1 legs"),
        ("oco_null_legs", oco(), "0 legs"),
        ("oco", bracket(), "class 'oco'"),
    ],
)
def test_legs_that_do_not_fit_the_group_are_a_protocol_error(name: str, group: OrderGroupRequest, why: str) -> None:
    with pytest.raises(TradierProtocolError, match=why):
        groups.group_legs(parent(name), group)


def test_a_leg_of_the_wrong_type_for_its_role_is_a_protocol_error() -> None:
    swapped = dict(GROUPS["oco"]["order"])
    swapped["leg"] = list(reversed(swapped["leg"]))
    with pytest.raises(TradierProtocolError, match="cannot be the TAKE_PROFIT"):
        groups.group_legs(TradierGroupOrder.model_validate(swapped), oco())


def test_tradier_declares_native_groups() -> None:
    assert TRADIER_CAPABILITIES.supports_order_classes


async def test_the_gateway_places_a_group_once_and_reads_its_legs() -> None:
    fake = FakeTradier(
        {
            ("GET", "/v1/accounts/VA000001/orders"): GROUPS["empty"],
            ("POST", "/v1/accounts/VA000001/orders"): {"order": {"id": 300001, "status": "ok"}},
            ("GET", "/v1/accounts/VA000001/orders/300001"): GROUPS["otoco"],
        }
    )
    gw = await gateway(fake)
    legs = await gw.submit_group(bracket())
    assert legs[R.TAKE_PROFIT].broker_order_id == "300003"
    form = dict(httpx.QueryParams(fake.sent("POST")[0].content.decode()))
    assert (form["class"], form["tag"], form["type[2]"], form["stop[2]"]) == ("otoco", "g1-en", "stop", "180")
    fake.answers[("GET", "/v1/accounts/VA000001/orders")] = {"orders": {"order": GROUPS["otoco"]["order"]}}
    again = await gw.submit_group(bracket())
    assert again == legs and len(fake.sent("POST")) == 1, "the tag is looked up first: placed once"
    assert await gw.get_group_by_client_id(bracket()) == legs
    assert await gw.get_group_by_client_id(bracket(gid="other")) == {}
    await gw.close()


async def test_a_group_counts_as_its_legs_in_lists_and_executions() -> None:
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders"): GROUPS["list"]})
    gw = await gateway(fake)
    executions = await gw.executions_since(datetime(2026, 3, 2, tzinfo=UTC))
    assert [(e.broker_order_id, e.symbol, e.quantity, e.price) for e in executions] == [
        ("300012", "MSFT", Decimal(10), Decimal("420.99"))
    ], "the leg's fill, once: not the group's too"
    assert [s.broker_order_id for s in await gw.list_open_orders()] == ["228175"]
    # A leg Tradier will not show by its id is found in the list.
    snapshot, _ = await gw.fetch_order("300013")
    assert snapshot.status is OrderStatus.CANCELED and snapshot.client_order_id == "300013"
    await gw.close()
