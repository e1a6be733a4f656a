"""Bracket, OCO and OTO groups: validation and the pure group state machine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.broker_integration import (
    ActionKind,
    GroupAction,
    GroupStatus,
    InvalidOrderGroupError,
    LegEvent,
    LegEventKind,
    LegRole,
    LegStatus,
    OrderGroup,
    OrderGroupRequest,
)

E, TP, SL = LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS
K = LegEventKind


def bracket(**entry: Any) -> OrderGroupRequest:
    legs = [
        {"role": "entry", "side": "buy", "quantity": 10, "order_type": "limit", "limit_price": "100", **entry},
        {"role": "take_profit", "side": "sell", "quantity": 10, "order_type": "limit", "limit_price": "110"},
        {"role": "stop_loss", "side": "sell", "quantity": 10, "order_type": "stop", "stop_price": "95"},
    ]
    return OrderGroupRequest(group_id="g1", kind="bracket", symbol="aapl", legs=legs)


def oco(tp: str = "110", sl: str = "95", side: str = "sell") -> OrderGroupRequest:
    legs = [{"role": "take_profit", "side": side, "quantity": 10, "order_type": "limit", "limit_price": tp},
            {"role": "stop_loss", "side": side, "quantity": 10, "order_type": "stop", "stop_price": sl}]
    return OrderGroupRequest(group_id="g2", kind="OCO", symbol="AAPL", legs=legs)


def oto() -> OrderGroupRequest:
    legs = [{"role": "ENTRY", "side": "BUY", "quantity": 5, "order_type": "MARKET"},
            {"role": "STOP_LOSS", "side": "SELL", "quantity": 5, "order_type": "STOP", "stop_price": "90"}]
    return OrderGroupRequest(group_id="g3", kind="OTO", symbol="AAPL", legs=legs)


def ev(role: LegRole, kind: LegEventKind, filled: int | str = 0) -> LegEvent:
    return LegEvent(role=role, kind=kind, filled_quantity=Decimal(filled))


def act(kind: ActionKind, role: LegRole, quantity: int | None = None) -> GroupAction:
    return GroupAction(kind=kind, role=role, quantity=None if quantity is None else Decimal(quantity))


def kinds(actions: list[GroupAction]) -> list[tuple[ActionKind, LegRole, Decimal | None]]:
    return [(a.kind, a.role, a.quantity) for a in actions]


# ---- validation ------------------------------------------------------------------------------------------


def test_valid_groups_and_leg_orders() -> None:
    group = bracket()
    assert group.symbol == "AAPL" and group.roles == (E, TP, SL)
    order = group.broker_order(TP)
    assert order.client_order_id == "g1-tp" and order.side == "SELL" and order.price == Decimal("110")
    assert oco().kind == "OCO" and oto().kind == "OTO"
    assert oco(tp="90", sl="105", side="buy").leg(TP) is not None  # exits of a short: TP below SL


def test_take_profit_below_the_entry_of_a_buy_bracket_is_refused() -> None:
    with pytest.raises(InvalidOrderGroupError) as err:
        bracket(limit_price="112")
    fields = err.value.fields
    assert "legs.TAKE_PROFIT.limit_price" in fields
    assert "take-profit 110 must be above the entry 112 of a buy bracket" in str(err.value)


def test_stop_loss_above_the_entry_is_refused() -> None:
    with pytest.raises(InvalidOrderGroupError) as err:
        bracket(limit_price="94")
    assert "legs.STOP_LOSS.stop_price" in err.value.fields


@pytest.mark.parametrize(
    ("build", "field", "text"),
    [
        (lambda: oco(tp="90"), "legs.TAKE_PROFIT.limit_price", "must be above the stop-loss"),
        (lambda: bracket(quantity=5), "legs.TAKE_PROFIT.quantity", "must equal the entry's quantity"),
        (lambda: bracket(side="sell"), "legs.TAKE_PROFIT.side", "must be BUY to close the SELL entry"),
        (lambda: OrderGroupRequest(group_id="g", kind="OCO", symbol="AAPL", legs=list(bracket().legs)),
         "legs", "a OCO needs legs"),
        (lambda: bracket(quantity=-1), "legs.ENTRY.quantity", ""),
        (lambda: bracket(order_type="trailing_stop", limit_price=None), "legs.ENTRY", ""),
    ],
)
def test_bad_groups_get_typed_errors(build: Any, field: str, text: str) -> None:
    with pytest.raises(InvalidOrderGroupError) as err:
        build()
    assert any(f.startswith(field) for f in err.value.fields), err.value.fields
    assert text in str(err.value)


def test_group_id_must_leave_room_for_leg_ids() -> None:
    with pytest.raises(InvalidOrderGroupError) as err:
        OrderGroupRequest(group_id="x" * 46, kind="OTO", symbol="AAPL", legs=list(oto().legs))
    assert err.value.fields == ["group_id"]


# ---- the state machine -----------------------------------------------------------------------------------


def test_bracket_entry_fill_activates_exits_and_take_profit_cancels_stop() -> None:
    group = OrderGroup.create(bracket())
    assert group.status is GroupStatus.PENDING
    assert kinds(group.start()) == [(ActionKind.ACTIVATE, E, Decimal(10))]
    assert group.leg(TP).status is LegStatus.HELD
    assert group.apply(ev(E, K.ACCEPTED)) == []
    assert group.apply(ev(E, K.PARTIALLY_FILLED, 4)) == []  # exits wait for the complete fill
    assert kinds(group.apply(ev(E, K.FILLED, 10))) == [(ActionKind.ACTIVATE, TP, 10), (ActionKind.ACTIVATE, SL, 10)]
    assert group.status is GroupStatus.ACTIVE
    assert kinds(group.apply(ev(TP, K.FILLED, 10))) == [(ActionKind.CANCEL, SL, None)]
    assert group.status is GroupStatus.ACTIVE  # until the stop-loss is confirmed canceled
    assert group.apply(ev(SL, K.CANCELED)) == []
    assert group.status is GroupStatus.COMPLETED and not group.both_exits_filled


def test_repeated_events_bring_no_new_actions() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    group.apply(ev(E, K.FILLED, 10))
    assert group.apply(ev(E, K.FILLED, 10)) == []
    group.apply(ev(SL, K.FILLED, 10))
    assert group.apply(ev(SL, K.FILLED, 10)) == []


def test_entry_canceled_without_fill_skips_exits() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    assert group.apply(ev(E, K.CANCELED)) == []
    assert group.leg(TP).status is LegStatus.SKIPPED and group.status is GroupStatus.CANCELLED


def test_entry_rejected_fails_the_group() -> None:
    group = OrderGroup.create(oto())
    group.start()
    group.apply(ev(E, K.REJECTED))
    assert group.status is GroupStatus.FAILED and group.leg(SL).status is LegStatus.SKIPPED


def test_entry_expired_after_partial_fill_protects_the_filled_part() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    group.apply(ev(E, K.PARTIALLY_FILLED, 3))
    actions = group.apply(ev(E, K.EXPIRED, 3))
    assert kinds(actions) == [(ActionKind.ACTIVATE, TP, 3), (ActionKind.ACTIVATE, SL, 3)]


def test_oco_partial_fill_reduces_the_sibling_then_fill_cancels_it() -> None:
    group = OrderGroup.create(oco())
    assert kinds(group.start()) == [(ActionKind.ACTIVATE, TP, 10), (ActionKind.ACTIVATE, SL, 10)]
    assert kinds(group.apply(ev(SL, K.PARTIALLY_FILLED, 4))) == [(ActionKind.REDUCE, TP, 6)]
    assert group.leg(TP).quantity == 6
    assert kinds(group.apply(ev(SL, K.FILLED, 10))) == [(ActionKind.CANCEL, TP, None)]
    group.apply(ev(TP, K.CANCELED))
    assert group.status is GroupStatus.COMPLETED


def test_both_exits_filled_is_flagged() -> None:
    group = OrderGroup.create(oco())
    group.start()
    group.apply(ev(TP, K.FILLED, 10))
    group.apply(ev(SL, K.FILLED, 10))  # the broker filled it before the cancel arrived
    assert group.both_exits_filled and group.status is GroupStatus.COMPLETED


def test_late_fill_on_a_canceled_sibling_is_counted() -> None:
    group = OrderGroup.create(oco())
    group.start()
    group.apply(ev(TP, K.FILLED, 10))
    group.apply(ev(SL, K.CANCELED))
    assert group.apply(ev(SL, K.FILLED, 2)) == []
    assert group.leg(SL).filled_quantity == 2 and group.both_exits_filled


def test_group_cancel_cancels_live_legs_and_skips_held_ones() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    assert kinds(group.cancel("user")) == [(ActionKind.CANCEL, E, None)]
    assert group.cancel("again") == []
    assert group.leg(SL).status is LegStatus.SKIPPED
    assert group.apply(ev(E, K.FILLED, 10)) == []  # the entry filled before the cancel: exits stay skipped
    assert group.status is GroupStatus.CANCELLED


def test_exit_rejected_cancels_the_sibling_and_fails() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    group.apply(ev(E, K.FILLED, 10))
    assert kinds(group.apply(ev(SL, K.REJECTED))) == [(ActionKind.CANCEL, TP, None)]
    group.apply(ev(TP, K.CANCELED))
    assert group.status is GroupStatus.FAILED


def test_group_state_round_trips_as_json() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    group.apply(ev(E, K.FILLED, 10))
    again = OrderGroup.model_validate_json(group.model_dump_json())
    assert again == group
    assert act(ActionKind.CANCEL, SL) == GroupAction(kind="CANCEL", role="STOP_LOSS")


def test_a_held_leg_reported_alive_stays_held_until_the_entry_fills() -> None:
    group = OrderGroup.create(bracket())
    group.start()
    assert group.apply(ev(TP, K.ACCEPTED)) == []  # the broker holds it (native path)
    assert group.leg(TP).status is LegStatus.HELD
    group.apply(ev(E, K.FILLED, 10))
    assert group.leg(TP).status is LegStatus.WORKING
