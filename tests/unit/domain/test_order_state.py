from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.broker_integration import (
    BrokerOrder,
    DomainError,
    DuplicateExecutionError,
    ExecutionReport,
    IllegalTransitionError,
    Order,
    OrderStatus,
    OverfillError,
)
from domain.broker_integration.order_state import TERMINAL_STATUSES, TRANSITIONS, can_transition, check_transition

T0 = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
S = OrderStatus


def new_order(quantity: int = 100) -> Order:
    return Order.create(BrokerOrder(client_order_id="c1", symbol="AAPL", side="BUY", quantity=quantity), T0)


def fill(execution_id: str, quantity: int | Decimal, price: str = "10", at: datetime = T0) -> ExecutionReport:
    return ExecutionReport(
        execution_id=execution_id, client_order_id="c1", symbol="AAPL", side="BUY",
        quantity=quantity, price=price, executed_at=at, commission="0.01", fees="0.02",
    )


def test_table_covers_every_status_and_terminal_states_only_allow_late_fills() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for status in TERMINAL_STATUSES:
        assert TRANSITIONS[status] <= {S.FILLED}
    assert can_transition(S.CANCELED, S.FILLED)
    assert not can_transition(S.FILLED, S.CANCELED)
    with pytest.raises(IllegalTransitionError):
        check_transition(S.REJECTED, S.ACCEPTED)


def test_partial_fills_then_fill_with_average_price_and_costs() -> None:
    order = new_order()
    order.submit(T0)
    order.accept("b1", T0)
    order.apply_execution(fill("e1", 40, "10"))
    assert order.status is S.PARTIALLY_FILLED
    order.apply_execution(fill("e2", 60, "11"))
    assert order.status is S.FILLED
    assert order.filled_quantity == 100
    assert order.avg_fill_price == Decimal("10.6")
    assert order.commission == Decimal("0.02") and order.fees == Decimal("0.04")
    assert [u.status for u in order.history] == [S.SUBMITTED, S.ACCEPTED, S.PARTIALLY_FILLED, S.FILLED]
    assert [u.sequence for u in order.history] == [0, 1, 2, 3]


def test_duplicate_execution_and_overfill_raise_and_change_nothing() -> None:
    order = new_order(10)
    order.submit(T0)
    order.apply_execution(fill("e1", 4))
    with pytest.raises(DuplicateExecutionError):
        order.apply_execution(fill("e1", 4))
    with pytest.raises(OverfillError):
        order.apply_execution(fill("e2", 7))
    assert order.filled_quantity == 4 and order.execution_ids == ["e1"]


def test_fill_after_cancel_is_recorded() -> None:
    order = new_order(10)
    order.submit(T0)
    order.accept("b1", T0)
    order.request_cancel(T0)
    order.cancel(T0)
    order.apply_execution(fill("late-1", 3))
    assert order.status is S.CANCELED and order.filled_quantity == 3 and order.late_fills == 1
    order.apply_execution(fill("late-2", 7))
    assert order.status is S.FILLED


def test_refused_cancel_returns_to_previous_status_even_after_a_partial_fill() -> None:
    order = new_order(10)
    order.submit(T0)
    order.accept("b1", T0)
    order.request_cancel(T0)
    order.apply_execution(fill("e1", 3))
    assert order.status is S.PENDING_CANCEL
    order.refuse_pending("too late", T0)
    assert order.status is S.PARTIALLY_FILLED


def test_replace_below_filled_quantity_is_refused() -> None:
    order = new_order(10)
    order.submit(T0)
    order.accept("b1", T0)
    order.apply_execution(fill("e1", 6))
    order.request_amend(T0)
    with pytest.raises(OverfillError):
        order.replaced(BrokerOrder(client_order_id="c1", symbol="AAPL", side="BUY", quantity=5), "b2", T0)
    order.replaced(BrokerOrder(client_order_id="c1", symbol="AAPL", side="BUY", quantity=8), "b2", T0)
    assert order.status is S.PARTIALLY_FILLED and order.broker_order_id == "b2"
    assert order.remaining_quantity == 2


EVENTS = st.sampled_from(
    ["submit", "accept", "reject", "trigger", "cancel_req", "amend_req", "refuse", "cancel", "expire", "fill",
     "dup_fill", "replace"]
)


def _apply(order: Order, event: str, qty: int, step: int) -> None:
    at = T0 + timedelta(seconds=step)
    actions = {
        "submit": lambda: order.submit(at),
        "accept": lambda: order.accept("b1", at),
        "reject": lambda: order.reject("no", at),
        "trigger": lambda: order.trigger(at),
        "cancel_req": lambda: order.request_cancel(at),
        "amend_req": lambda: order.request_amend(at),
        "refuse": lambda: order.refuse_pending("no", at),
        "cancel": lambda: order.cancel(at),
        "expire": lambda: order.expire(at),
        "fill": lambda: order.apply_execution(fill(f"e{step}", qty, at=at)),
        "dup_fill": lambda: order.apply_execution(fill("e0", qty, at=at)),
        "replace": lambda: order.replaced(
            BrokerOrder(client_order_id="c1", symbol="AAPL", side="BUY", quantity=qty + 10), f"b{step}", at
        ),
    }
    actions[event]()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(EVENTS, st.integers(min_value=1, max_value=60)), max_size=40))
def test_random_event_sequences_never_reach_an_illegal_state_or_overfill(
    events: list[tuple[str, int]],
) -> None:
    order = new_order(100)
    for step, (event, qty) in enumerate(events):
        before = (order.status, order.filled_quantity, len(order.history), list(order.execution_ids))
        try:
            _apply(order, event, qty, step)
        except (DomainError, ValueError):
            # A refused event changes nothing.
            assert (order.status, order.filled_quantity, len(order.history), order.execution_ids) == (
                before[0], before[1], before[2], before[3],
            )
        assert order.filled_quantity <= order.order.quantity
        assert len(set(order.execution_ids)) == len(order.execution_ids)
    for update in order.history:
        assert update.previous_status is not None
        assert can_transition(update.previous_status, update.status)
    if order.filled_quantity == order.order.quantity and order.filled_quantity > 0:
        assert order.status is S.FILLED


def test_an_acknowledgement_accepts_and_applies_its_status_unless_it_shows_fills() -> None:
    from domain.broker_integration import OrderSnapshot
    from domain.broker_integration.reconcile import apply_acknowledgement

    def ack(status: OrderStatus, filled: int = 0) -> OrderSnapshot:
        return OrderSnapshot(broker_order_id="B1", client_order_id="c1", status=status, symbol="AAPL",
                             quantity=Decimal(100), filled_quantity=Decimal(filled), submitted_at=T0)

    order = new_order()
    order.submit(T0)
    updates = apply_acknowledgement(order, ack(S.ACCEPTED), T0 + timedelta(seconds=1))
    assert [u.status for u in updates] == [S.ACCEPTED] and order.broker_order_id == "B1"
    assert order.accepted_at == T0 + timedelta(seconds=1) and order.broker_submitted_at == T0
    canceled = new_order()
    canceled.submit(T0)
    assert [u.status for u in apply_acknowledgement(canceled, ack(S.CANCELED), T0)] == [S.ACCEPTED, S.CANCELED]
    filled = new_order()
    filled.submit(T0)
    # Fills first (as executions): the status the answer shows waits for them.
    assert [u.status for u in apply_acknowledgement(filled, ack(S.FILLED, 100), T0)] == [S.ACCEPTED]

