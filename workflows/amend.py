"""Pure checks and construction for amendments (used by the update validator and handler)."""

from __future__ import annotations

from typing import Any

from activities.models import AmendRequest
from domain.broker_integration import BrokerOrder, DomainError, Order, OrderType

__all__ = ["amended_order", "validate"]

_PRICE_FIELD = {"limit_price": "price", "stop_price": "stop_price"}


def amended_order(order: Order, request: AmendRequest) -> BrokerOrder:
    """The order with the new terms; raises a domain validation error when they are invalid."""
    fields: dict[str, Any] = order.order.model_dump()
    if request.quantity is not None:
        fields["quantity"] = request.quantity
    if request.limit_price is not None:
        fields["price"] = request.limit_price
    if request.stop_price is not None:
        fields["stop_price"] = request.stop_price
    if request.trail is not None:
        key = "trail_percent" if order.order.trail_percent is not None else "trail_price"
        fields[key] = request.trail
    return BrokerOrder(**fields)


def validate(order: Order | None, request: AmendRequest) -> None:
    """Raise ValueError when the amendment cannot apply to the order as it stands."""
    if order is None:
        raise ValueError("the order has not reached the broker yet")
    if order.is_terminal:
        raise ValueError(f"order {order.client_order_id} is {order.status}; nothing to amend")
    if order.status.is_pending:
        raise ValueError(f"order {order.client_order_id} has a change in progress ({order.status})")
    try:
        amendment = request.amendment()
    except (DomainError, ValueError) as exc:
        raise ValueError(f"invalid amendment: {exc}") from None
    if amendment.is_empty():
        raise ValueError("the amendment changes nothing")
    if amendment.quantity is not None and amendment.quantity <= order.filled_quantity:
        raise ValueError(f"quantity {amendment.quantity} is not above the filled {order.filled_quantity}")
    kind = order.order.order_type
    if amendment.limit_price is not None and kind not in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        raise ValueError(f"a {kind} order has no limit price")
    if amendment.stop_price is not None and kind not in (OrderType.STOP, OrderType.STOP_LIMIT):
        raise ValueError(f"a {kind} order has no stop price")
    if amendment.trail is not None and kind is not OrderType.TRAILING_STOP:
        raise ValueError(f"a {kind} order has no trail")
    try:
        amended_order(order, request)
    except DomainError as exc:
        raise ValueError(str(exc)) from None
