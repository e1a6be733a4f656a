"""Tradier option orders: OCC symbols, the open/close side from the position, the form, and option payloads
(tests/resources/tradier/option_orders.json) into domain terms."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from brokers.tradier import TRADIER_CAPABILITIES, TradierConfig, TradierGateway, options, parsing
from brokers.tradier.errors import TradierPositionEffectError, TradierProtocolError, TradierUnsupportedOrderError
from brokers.tradier.schemas import TradierBalances, TradierOrder, TradierPosition, items
from domain.broker_integration import AssetClass, BrokerOrder, ExecutionParameters, OrderSide, OrderStatus
from domain.broker_integration.rules.buying_power import estimated_cost
from domain.broker_integration.rules.validation import capability_problems
from tests.unit.brokers.test_tradier_gateway import FakeTradier, gateway

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "tradier"
OPTIONS = json.loads((RESOURCES / "option_orders.json").read_text())
CALL, PUT = "AAPL260320C00190000", "AAPL260320P00180000"
S = OrderSide


def orders(payload: Any) -> list[TradierOrder]:
    return [TradierOrder.model_validate(o) for o in items(payload, "orders", "order")]


def positions(payload: Any) -> list[TradierPosition]:
    return [TradierPosition.model_validate(p) for p in items(payload, "positions", "position")]


def call(side: str = "BUY", qty: str = "2", **fields: Any) -> BrokerOrder:
    return BrokerOrder(
        **(
            {
                "client_order_id": "opt-0001",
                "symbol": CALL,
                "side": side,
                "quantity": qty,
                "asset_class": "OPTION",
                "order_type": "LIMIT",
                "price": "5.10",
            }
            | fields
        )
    )


def test_occ_symbols() -> None:
    parsed = options.parse_occ(CALL)
    assert parsed == options.OccSymbol("AAPL", date(2026, 3, 20), "C", Decimal("190"))
    assert options.parse_occ("SPXW260320P05125500") == options.OccSymbol(
        "SPXW", date(2026, 3, 20), "P", Decimal("5125.5")
    )
    for bad in (
        "AAPL",
        "AAPL 260320C00190000",
        "AAPL260320C0019000",
        "AAPL261301C00190000",
        "AAPL260320Q00190000",
        "AAPL260320C00000000",
        "1AAPL260320C00190000",
    ):
        assert options.parse_occ(bad) is None, bad


@pytest.mark.parametrize(
    ("side", "held", "qty", "effect"),
    [
        (S.BUY, "0", "2", "buy_to_open"),
        (S.BUY, "5", "2", "buy_to_open"),
        (S.BUY, "-3", "2", "buy_to_close"),
        (S.BUY, "-2", "2", "buy_to_close"),
        (S.BUY_TO_COVER, "-2", "1", "buy_to_close"),
        (S.SELL, "2", "2", "sell_to_close"),
        (S.SELL_SHORT, "0", "1", "sell_to_open"),
        (S.SELL_SHORT, "-1", "1", "sell_to_open"),
    ],
)
def test_the_side_follows_the_position_in_the_contract(side: OrderSide, held: str, qty: str, effect: str) -> None:
    assert options.position_effect(side, Decimal(held), Decimal(qty)) == effect
    assert options.closing_effect(options.closing_effect(effect)) == effect


@pytest.mark.parametrize(
    ("side", "held", "qty", "why"),
    [
        (S.BUY, "-1", "2", "cross through zero"),
        (S.SELL, "0", "1", "SELL_SHORT"),
        (S.SELL, "1", "2", "holds 1 of 2"),
        (S.SELL, "-1", "1", "SELL_SHORT"),
        (S.SELL_SHORT, "1", "1", "long 1"),
        (S.BUY_TO_COVER, "0", "1", "cross through zero"),
    ],
)
def test_sides_the_position_does_not_fit_are_refused(side: OrderSide, held: str, qty: str, why: str) -> None:
    with pytest.raises(TradierPositionEffectError, match=why):
        options.position_effect(side, Decimal(held), Decimal(qty))


def test_the_option_form() -> None:
    assert options.option_form(call(), "buy_to_open") == {
        "class": "option",
        "symbol": "AAPL",
        "option_symbol": CALL,
        "side": "buy_to_open",
        "quantity": "2",
        "type": "limit",
        "duration": "day",
        "tag": "opt-0001",
        "price": "5.1",
    }
    stop = call(
        side="SELL",
        order_type="STOP",
        price=None,
        stop_price="3",
        execution_params=ExecutionParameters(time_in_force="GTC"),
    )
    form = options.option_form(stop, "sell_to_close")
    assert (form["type"], form["stop"], form["duration"]) == ("stop", "3", "gtc") and "price" not in form


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"symbol": "AAPL"}, "not an OCC option symbol"),
        ({"quantity": "1.5"}, "fractions of an option contract"),
        ({"execution_params": ExecutionParameters(time_in_force="IOC")}, "time in force"),
        ({"execution_params": ExecutionParameters(extended_hours=True)}, "extended hours"),
        ({"order_type": "TRAILING_STOP", "price": None, "trail_price": "1", "side": "SELL"}, "TRAILING_STOP"),
        ({"client_order_id": "opt_1"}, "as a tag"),
    ],
)
def test_what_tradier_cannot_do_with_an_option_is_refused(fields: dict[str, Any], why: str) -> None:
    with pytest.raises(TradierUnsupportedOrderError, match=why):
        options.option_form(call(**fields), "buy_to_open")


def test_option_orders_are_named_by_their_contract() -> None:
    open_, partial, written, canceled = orders(OPTIONS["list"])
    snapshots = [options.report_snapshot(o) for o in (open_, partial, written, canceled)]
    assert [s.symbol for s in snapshots] == [CALL, CALL, PUT, PUT]
    assert [options.report_side(o) for o in (open_, partial, written, canceled)] == [
        S.BUY,
        S.SELL,
        S.SELL_SHORT,
        S.BUY_TO_COVER,
    ]
    assert (snapshots[0].client_order_id, snapshots[0].status, snapshots[0].limit_price) == (
        "opt-0001",
        OrderStatus.ACCEPTED,
        Decimal("5.1"),
    )
    assert (snapshots[1].status, snapshots[1].filled_quantity, snapshots[1].filled_avg_price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("1"),
        Decimal("5.2"),
    )
    assert snapshots[2].client_order_id == "228192" and snapshots[3].stop_price == Decimal("4")
    single = TradierOrder.model_validate(OPTIONS["single"]["order"])
    assert options.report_snapshot(single).symbol == CALL
    with pytest.raises(TradierProtocolError, match="option_symbol"):
        options.report_snapshot(TradierOrder.model_validate(OPTIONS["no_contract"]["order"]))


def test_option_positions_average_the_premium_per_share() -> None:
    long_call, short_put, shares = positions(OPTIONS["positions"])
    assert options.position_of(shares) is None
    held = options.position_of(long_call)
    assert held is not None and (held.asset_class, held.quantity, held.avg_entry_price) == (
        AssetClass.OPTION,
        Decimal("2"),
        Decimal("5.09"),
    )
    written = options.position_of(short_put)
    assert written is not None and (written.quantity, written.avg_entry_price) == (Decimal("-1"), Decimal("2.5"))
    balances = TradierBalances(
        account_number="VA1",
        account_type="margin",
        total_equity=100000,
        total_cash=98000,
        margin={"stock_buying_power": 150000},
    )
    account = options.with_option_positions(
        parsing.broker_account(balances, [long_call, short_put, shares], "conn"), [long_call, short_put, shares]
    )
    assert account.positions[CALL].avg_entry_price == Decimal("5.09")
    assert account.positions["AAPL"].avg_entry_price == Decimal("187.5")
    assert account.positions[PUT].asset_class is AssetClass.OPTION


def test_options_are_a_capability_and_cost_a_hundred_shares_a_contract() -> None:
    assert AssetClass.OPTION in TRADIER_CAPABILITIES.asset_classes
    assert capability_problems(call(), TRADIER_CAPABILITIES) == []
    assert estimated_cost(call(), Decimal("5")) == Decimal("1020"), "2 contracts x 5.10 x 100"


async def test_the_gateway_reads_the_position_to_choose_the_side() -> None:
    fake = FakeTradier(
        {
            ("GET", "/v1/accounts/VA000001/orders"): {"orders": "null"},
            ("GET", "/v1/accounts/VA000001/positions"): OPTIONS["short_put"],
            ("POST", "/v1/accounts/VA000001/orders"): {"order": {"id": 228193, "status": "ok"}},
            ("GET", "/v1/accounts/VA000001/orders/228193"): {"order": OPTIONS["list"]["orders"]["order"][3]},
        }
    )
    gw = await gateway(fake)
    placed = await gw.submit_order(call(side="BUY", qty="1", symbol=PUT, client_order_id="cover-1"))
    form = dict(httpx.QueryParams(fake.sent("POST")[0].content.decode()))
    assert (form["class"], form["side"], form["option_symbol"], form["symbol"]) == (
        "option",
        "buy_to_close",
        PUT,
        "AAPL",
    )
    assert placed.symbol == PUT
    with pytest.raises(TradierPositionEffectError):
        await gw.submit_order(call(side="SELL", qty="1", symbol=PUT, client_order_id="sell-1"))
    assert len(fake.sent("POST")) == 1, "refused before sending"
    await gw.close()


def test_native_groups_can_be_turned_off_per_connection() -> None:
    assert TradierGateway("c").capabilities().supports_order_classes
    assert not TradierGateway("c", TradierConfig(native_order_groups=False)).capabilities().supports_order_classes
