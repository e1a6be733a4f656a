"""PURE translation of bracket/OCO/OTO groups to Alpaca's order classes and back (legs by role)."""

from __future__ import annotations

from domain.broker_integration.order_groups import GroupKind, LegRole, OrderGroupRequest
from domain.broker_integration.ports import OrderSnapshot

from .errors import AlpacaProtocolError
from .parsing import format_decimal, order_request, order_snapshot, typed_parser
from .schemas import AlpacaOrder, AlpacaOrderRequest

__all__ = ["group_legs", "group_request"]

_CLASS = {GroupKind.BRACKET: "bracket", GroupKind.OCO: "oco", GroupKind.OTO: "oto"}


def group_request(group: OrderGroupRequest) -> AlpacaOrderRequest:
    """The POST /v2/orders body: the parent leg (entry, or an OCO's take-profit) with the class and exit prices."""
    body = order_request(group.broker_order(group.parent_role))
    extra: dict[str, object] = {"order_class": _CLASS[group.kind]}
    take_profit, stop_loss = group.leg(LegRole.TAKE_PROFIT), group.leg(LegRole.STOP_LOSS)
    if take_profit is not None and take_profit.limit_price is not None:
        extra["take_profit"] = {"limit_price": format_decimal(take_profit.limit_price)}
    if stop_loss is not None and stop_loss.stop_price is not None:
        stop = {"stop_price": format_decimal(stop_loss.stop_price)}
        if stop_loss.limit_price is not None:  # a stop-limit stop-loss
            stop["limit_price"] = format_decimal(stop_loss.limit_price)
        extra["stop_loss"] = stop
    return body.model_copy(update=extra)


@typed_parser
def group_legs(parent: AlpacaOrder, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
    """The parent order (fetched with nested=true) and its legs, by role: a leg's type tells which exit it is."""
    legs = {group.parent_role: order_snapshot(parent)}
    for leg in parent.legs or []:
        role = LegRole.TAKE_PROFIT if leg.type == "limit" else LegRole.STOP_LOSS
        if role in legs or role not in group.roles:
            raise AlpacaProtocolError(f"order {parent.id}: unexpected {leg.type} leg {leg.id}")
        legs[role] = order_snapshot(leg)
    return legs
