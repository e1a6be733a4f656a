"""The order status state machine: one explicit transition table (after NautilusTrader)."""

from __future__ import annotations

from enum import StrEnum

from .errors import IllegalTransitionError

__all__ = [
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "TRANSITIONS",
    "OrderStatus",
    "can_transition",
    "check_transition",
]


class OrderStatus(StrEnum):
    INITIALIZED = "INITIALIZED"
    SUBMITTED = "SUBMITTED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    TRIGGERED = "TRIGGERED"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_CANCEL = "PENDING_CANCEL"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        """No further status is expected (a late fill may still be recorded on CANCELED/EXPIRED)."""
        return self in TERMINAL_STATUSES

    @property
    def is_pending(self) -> bool:
        """A cancel or amend awaits the broker's answer."""
        return self in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_UPDATE)


S = OrderStatus

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.INITIALIZED: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELED}),
    S.SUBMITTED: frozenset(
        {
            S.ACCEPTED,
            S.REJECTED,
            S.CANCELED,
            S.EXPIRED,
            S.TRIGGERED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
        }
    ),
    S.ACCEPTED: frozenset(
        {
            S.TRIGGERED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.PENDING_UPDATE,
            S.PENDING_CANCEL,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
        }
    ),
    S.TRIGGERED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED, S.REJECTED}
    ),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_UPDATE, S.PENDING_CANCEL, S.CANCELED, S.EXPIRED}
    ),
    # A refused cancel or amend returns the order to the status it had before.
    S.PENDING_CANCEL: frozenset(
        {S.CANCELED, S.ACCEPTED, S.TRIGGERED, S.PARTIALLY_FILLED, S.FILLED, S.EXPIRED, S.REJECTED}
    ),
    S.PENDING_UPDATE: frozenset(
        {
            S.ACCEPTED,
            S.TRIGGERED,
            S.PARTIALLY_FILLED,
            S.FILLED,
            S.CANCELED,
            S.EXPIRED,
            S.REJECTED,
            S.PENDING_CANCEL,
        }
    ),
    # A fill can arrive after the cancel or expiry: it is recorded, and can complete the order.
    S.CANCELED: frozenset({S.FILLED}),
    S.EXPIRED: frozenset({S.FILLED}),
    S.REJECTED: frozenset(),
    S.FILLED: frozenset(),
}

TERMINAL_STATUSES: frozenset[OrderStatus] = frozenset({S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED})
OPEN_STATUSES: frozenset[OrderStatus] = frozenset(OrderStatus) - TERMINAL_STATUSES - {S.INITIALIZED}


def can_transition(current: OrderStatus, target: OrderStatus) -> bool:
    """Whether the table allows current -> target."""
    return target in TRANSITIONS[current]


def check_transition(current: OrderStatus, target: OrderStatus, client_order_id: str = "") -> None:
    """Raise IllegalTransitionError unless the table allows current -> target."""
    if not can_transition(current, target):
        raise IllegalTransitionError(current, target, client_order_id)
