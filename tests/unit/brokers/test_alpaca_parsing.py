"""Recorded Alpaca payloads parse into the domain's neutral types; domain orders become Alpaca requests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokers.alpaca import parsing
from brokers.alpaca.errors import AlpacaUnsupportedOrderError
from brokers.alpaca.schemas import (
    AlpacaAccount,
    AlpacaFillActivity,
    AlpacaOrder,
    AlpacaPosition,
    AlpacaTradeUpdate,
)
from domain.broker_integration import (
    AccountType,
    BrokerOrder,
    ExecutionParameters,
    OrderAmendment,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradeEventKind,
)

from .conftest import load

S = OrderStatus
EXPECTED_STATUS = {
    "new": S.ACCEPTED, "partially_filled": S.PARTIALLY_FILLED, "filled": S.FILLED,
    "done_for_day": S.PARTIALLY_FILLED, "canceled": S.CANCELED, "expired": S.EXPIRED,
    "replaced": S.ACCEPTED, "pending_cancel": S.PENDING_CANCEL, "pending_replace": S.PENDING_UPDATE,
    "accepted": S.ACCEPTED, "pending_new": S.ACCEPTED, "accepted_for_bidding": S.ACCEPTED,
    "stopped": S.ACCEPTED, "rejected": S.REJECTED, "suspended": S.ACCEPTED, "calculated": S.ACCEPTED,
    "held": S.ACCEPTED, "pending_review": S.ACCEPTED,
}


@pytest.mark.parametrize("status", sorted(EXPECTED_STATUS))
def test_order_in_every_status_parses(status: str) -> None:
    wire = AlpacaOrder.model_validate(load("orders_by_status")[status])
    snapshot = parsing.order_snapshot(wire)
    assert snapshot.status is EXPECTED_STATUS[status]
    assert snapshot.broker_order_id == wire.id
    assert snapshot.client_order_id == wire.client_order_id
    assert snapshot.quantity == Decimal("10")
    assert snapshot.submitted_at is not None and snapshot.submitted_at.tzinfo is UTC


def test_order_fields_keep_decimals_and_times() -> None:
    wire = AlpacaOrder.model_validate(load("orders_by_status")["partially_filled"])
    snapshot = parsing.order_snapshot(wire)
    assert snapshot.filled_quantity == Decimal("4")
    assert snapshot.filled_avg_price == Decimal("187.41")
    assert snapshot.limit_price == Decimal("187.5")
    # -05:00 offset with nanoseconds -> UTC microseconds
    assert snapshot.updated_at == datetime(2026, 3, 2, 15, 4, 7, 123456, tzinfo=UTC)


def test_replaced_order_points_at_its_replacement() -> None:
    snapshot = parsing.order_snapshot(AlpacaOrder.model_validate(load("orders_by_status")["replaced"]))
    assert snapshot.replaced_by == "5a1e1f6b-9a4e-4a55-8a3c-4f5a8b0c1d22"
    assert snapshot.reason == "replaced"


def test_orders_of_every_type_parse() -> None:
    snapshots = [parsing.order_snapshot(AlpacaOrder.model_validate(o)) for o in load("orders_by_type")]
    assert [s.client_order_id for s in snapshots][:5] == ["mkt-1", "stp-1", "stplmt-1", "trail-1", "frac-1"]
    assert snapshots[3].stop_price == Decimal("183.61")
    assert snapshots[4].quantity == Decimal("0.125")
    # a replacement's client id maps back to the id brokerflow chose
    assert snapshots[5].client_order_id == "bf-abc"
    assert snapshots[5].replaces is not None


@pytest.mark.parametrize("message", load("trade_updates"), ids=lambda m: m["data"]["event"])
def test_every_trade_update_parses(message: dict) -> None:
    event = parsing.trade_event(AlpacaTradeUpdate.model_validate(message["data"]), "conn-1")
    expected = parsing.EVENT_KINDS.get(message["data"]["event"], TradeEventKind.OTHER)
    assert event.kind is expected
    assert event.occurred_at.tzinfo is UTC
    assert event.sequence
    assert (event.execution is not None) == (message["data"]["event"] in ("fill", "partial_fill"))


def test_fill_event_carries_the_execution_not_the_average() -> None:
    message = next(m for m in load("trade_updates") if m["data"]["event"] == "partial_fill")
    event = parsing.trade_event(AlpacaTradeUpdate.model_validate(message["data"]), "conn-1")
    assert event.execution is not None
    assert event.execution.execution_id == "7d6c0f57-33f5-4d8f-8a3e-7f1b1b9a2c01"
    assert (event.execution.quantity, event.execution.price) == (Decimal("4"), Decimal("187.41"))
    assert event.execution.cumulative_quantity == Decimal("4")
    assert event.execution.connection_id == "conn-1"
    assert event.position_quantity == Decimal("4")
    assert event.sequence == "7d6c0f57-33f5-4d8f-8a3e-7f1b1b9a2c01"


def test_event_id_is_the_sequence_when_present() -> None:
    message = next(m for m in load("trade_updates") if m["data"].get("event_id"))
    event = parsing.trade_event(AlpacaTradeUpdate.model_validate(message["data"]))
    assert event.sequence == message["data"]["event_id"]


def test_side_override_only_within_direction() -> None:
    message = next(m for m in load("trade_updates") if m["data"]["event"] == "fill")
    update = AlpacaTradeUpdate.model_validate(message["data"])
    assert parsing.trade_event(update, side=OrderSide.BUY_TO_COVER).execution.side is OrderSide.BUY_TO_COVER
    assert parsing.trade_event(update, side=OrderSide.SELL_SHORT).execution.side is OrderSide.BUY


def test_fill_activities_parse_with_execution_ids() -> None:
    activities = [AlpacaFillActivity.model_validate(a) for a in load("activities_fill")]
    reports = [parsing.execution_from_activity(a, "strat7-0001", "conn-1") for a in activities[:2]]
    assert [r.execution_id for r in reports] == ["8efc7b9a-8b2b-4000-9955-d36e7db0df74",
                                                  "0ef90479-4a4a-44e4-b7a2-a4186c0d7dfb"]
    assert [r.cumulative_quantity for r in reports] == [Decimal("4"), Decimal("10")]
    assert reports[1].executed_at == datetime(2026, 3, 2, 15, 4, 9, 500000, tzinfo=UTC)
    short = parsing.execution_from_activity(activities[2], "x~r0123456789", side=OrderSide.SELL_SHORT)
    assert short.side is OrderSide.SELL_SHORT and short.client_order_id == "x"


def test_execution_id_without_separator_is_kept() -> None:
    assert parsing.execution_id_from_activity("plain-id") == "plain-id"


def test_margin_account_with_positions() -> None:
    positions = [AlpacaPosition.model_validate(p) for p in load("positions")]
    account = parsing.broker_account(AlpacaAccount.model_validate(load("account")), positions, "conn-1")
    assert account.account_type is AccountType.MARGIN
    assert account.account_number == "PA3XYZ0001" and account.connection_id == "conn-1"
    assert account.buying_power == Decimal("112002") and account.cash == Decimal("25000")
    assert account.shorting_enabled is True
    assert account.position_quantity("TSLA") == Decimal("-5")
    assert account.positions["AAPL"].avg_entry_price == Decimal("182.1")
    # the 2026-07 account shape has no PDT fields
    assert account.pattern_day_trader is False and account.day_trade_count == 0


def test_cash_account_with_legacy_pdt_fields() -> None:
    account = parsing.broker_account(AlpacaAccount.model_validate(load("account_cash_legacy_pdt")), [], "c")
    assert account.account_type is AccountType.CASH
    assert account.day_trade_count == 1 and account.shorting_enabled is False


def _order(**overrides: object) -> BrokerOrder:
    data: dict[str, object] = {"client_order_id": "cid-1", "symbol": "AAPL", "side": "BUY", "quantity": "10"}
    data.update(overrides)
    return BrokerOrder(**data)


def test_limit_order_request() -> None:
    body = parsing.order_request(_order(order_type="LIMIT", price="187.50",
                                        execution_params=ExecutionParameters(time_in_force="GTC"))).to_json()
    assert body == {"symbol": "AAPL", "qty": "10", "side": "buy", "type": "limit", "time_in_force": "gtc",
                    "client_order_id": "cid-1", "order_class": "simple", "limit_price": "187.5",
                    "extended_hours": False}


@pytest.mark.parametrize(("side", "wire"), [("BUY", "buy"), ("SELL", "sell"), ("SELL_SHORT", "sell"),
                                            ("BUY_TO_COVER", "buy")])
def test_sides_map_to_buy_and_sell(side: str, wire: str) -> None:
    assert parsing.order_request(_order(side=side)).side == wire


@pytest.mark.parametrize("tif", [t for t in TimeInForce if t is not TimeInForce.GTD])
def test_times_in_force_map(tif: TimeInForce) -> None:
    body = parsing.order_request(_order(execution_params=ExecutionParameters(time_in_force=tif)))
    assert body.time_in_force == tif.value.lower()
    assert parsing.TIF_FROM_ALPACA[body.time_in_force] is tif


def test_gtd_is_refused_before_sending() -> None:
    params = ExecutionParameters(time_in_force="GTD", expire_at=datetime(2030, 1, 1, tzinfo=UTC))
    with pytest.raises(AlpacaUnsupportedOrderError):
        parsing.order_request(_order(order_type="LIMIT", price="1", execution_params=params))


def test_stop_trailing_and_extended_hours_fields() -> None:
    stop_limit = parsing.order_request(_order(side="SELL", order_type="STOP_LIMIT", price="179.5", stop_price="180"))
    assert (stop_limit.type, stop_limit.limit_price, stop_limit.stop_price) == ("stop_limit", "179.5", "180")
    trail = parsing.order_request(_order(side="SELL", order_type="TRAILING_STOP", trail_percent="2.50"))
    assert (trail.type, trail.trail_percent, trail.trail_price) == ("trailing_stop", "2.5", None)
    trail_price = parsing.order_request(_order(side="SELL", order_type="TRAILING_STOP", trail_price="1.25"))
    assert trail_price.trail_price == "1.25"
    ext = parsing.order_request(_order(order_type="LIMIT", price="10",
                                       execution_params=ExecutionParameters(extended_hours=True)))
    assert ext.extended_hours is True


def test_enum_maps_are_inverse() -> None:
    for order_type, wire in parsing.TYPE_TO_ALPACA.items():
        assert parsing.TYPE_FROM_ALPACA[wire] is order_type
    assert set(parsing.TYPE_TO_ALPACA) == set(OrderType)


def test_fractional_quantity_is_sent_plain() -> None:
    assert parsing.order_request(_order(quantity="0.125000")).qty == "0.125"
    assert parsing.format_decimal(Decimal("1E+2")) == "100"


def test_replace_sends_only_what_is_left_after_fills() -> None:
    wire = AlpacaOrder.model_validate(load("orders_by_status")["partially_filled"])
    body = parsing.replace_request(OrderAmendment(limit_price="186"), wire).to_json()
    assert body["qty"] == "6" and body["limit_price"] == "186"
    assert body["client_order_id"] == parsing.replacement_client_order_id(wire.client_order_id, wire.id)
    total = parsing.replace_request(OrderAmendment(quantity="12"), wire).to_json()
    assert total["qty"] == "8"
    with pytest.raises(AlpacaUnsupportedOrderError):
        parsing.replace_request(OrderAmendment(quantity="4"), wire)


def test_replace_of_unfilled_order_sends_only_changes() -> None:
    wire = AlpacaOrder.model_validate(load("orders_by_status")["new"])
    body = parsing.replace_request(OrderAmendment(trail="1.5"), wire).to_json()
    assert set(body) == {"trail", "client_order_id"}


def test_replacement_client_ids_are_stable_and_chain_to_the_root() -> None:
    first = parsing.replacement_client_order_id("bf-1", "old-id")
    assert first == parsing.replacement_client_order_id("bf-1", "old-id")
    second = parsing.replacement_client_order_id(first, "newer-id")
    assert parsing.root_client_order_id(first) == parsing.root_client_order_id(second) == "bf-1"
    assert len(second) == len(first)
