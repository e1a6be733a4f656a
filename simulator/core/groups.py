"""Advanced order classes at the exchange: bracket, OCO and OTO groups (Alpaca's published behaviour).

- bracket / oto: the entry is the parent; its exit legs are `held` until the entry is completely filled.
- oco: the parent is the take-profit limit; the stop-loss leg works from the start.
- Between the exits it is one-cancels-other: a fill cancels the other, a partial fill resizes it to what is left.
- If any order of the group is canceled, the rest are canceled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from simulator.core.execution import route
from simulator.core.model import OrderRequest, OrderStatus, OrderType, Rejection, RejectKind, Side, SimOrder
from simulator.core.risk import check_order

if TYPE_CHECKING:
    from simulator.core.exchange import Exchange
    from simulator.core.state import MarketState

__all__ = ["GroupRequest", "after_cancel", "after_fill", "submit_group"]

CLASSES = ("bracket", "oco", "oto")


@dataclass(frozen=True)
class GroupRequest:
    """An order with an advanced class: the parent's request plus the exits' prices."""

    parent: OrderRequest
    order_class: str
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    stop_limit: Decimal | None = None
    # The other orders spelled out (Tradier's indexed legs), in place of the exits derived from the prices.
    legs: tuple[OrderRequest, ...] = ()


def _legs(group: GroupRequest) -> list[OrderRequest]:
    """The orders besides the parent: both exits (bracket, oto: the one given), or the OCO's stop-loss."""
    if group.legs:
        return list(group.legs)
    parent = group.parent
    side = parent.side if group.order_class == "oco" else (Side.SELL if parent.side is Side.BUY else Side.BUY)
    base = OrderRequest(parent.symbol, side, OrderType.LIMIT, parent.time_in_force, qty=parent.qty)
    legs = []
    if group.take_profit is not None and group.order_class != "oco":
        legs.append(replace(base, limit_price=group.take_profit))
    if group.stop_loss is not None:
        kind = OrderType.STOP_LIMIT if group.stop_limit is not None else OrderType.STOP
        legs.append(replace(base, type=kind, stop_price=group.stop_loss, limit_price=group.stop_limit))
    return legs


def submit_group(exchange: Exchange, account_id: str, group: GroupRequest) -> SimOrder:
    """Accept the parent (checked like any order) with its legs, then start what works from the start."""
    state = exchange.state
    inst = state.instrument(group.parent.symbol)
    client_id = group.parent.client_order_id or str(uuid.uuid4())
    if (account_id, client_id) in state.client_ids:
        raise Rejection(RejectKind.DUPLICATE_CLIENT_ID, "client_order_id must be unique")
    exchange._check_session(group.parent)
    parent = exchange._new_order(account_id, group.parent, client_id, inst)
    exchange._check_stop(parent, inst)
    check_order(state.accounts[account_id], parent, inst, state.open_orders(account_id), state.instruments,
                state.clock.today())
    legs = [exchange._new_order(account_id, leg, str(uuid.uuid4()), inst) for leg in _legs(group)]
    parent.order_class = group.order_class
    parent.legs = tuple(leg.id for leg in legs)
    accepted = exchange._register(parent)
    for leg in legs:
        leg.order_class, leg.parent_id = group.order_class, parent.id
        if group.order_class != "oco":
            leg.status = OrderStatus.HELD
        exchange._register(leg)
    exchange._start(parent)
    for leg in legs:
        if leg.status is not OrderStatus.HELD and leg.is_open:
            exchange._start(leg)
    return accepted


def _members(state: MarketState, order: SimOrder) -> list[SimOrder]:
    """Every order of the group the order belongs to (parent first); empty for a simple order."""
    parent = state.orders.get(order.parent_id) if order.parent_id else order
    if parent is None or not parent.legs:
        return []
    return [parent, *(state.orders[i] for i in parent.legs)]


def _exits(state: MarketState, order: SimOrder) -> list[SimOrder]:
    """The other exits of an exit order (an OCO's parent is an exit too)."""
    members = _members(state, order)
    if not members:
        return []
    parent = members[0]
    exits = members if parent.order_class == "oco" else members[1:]
    return [o for o in exits if o.id != order.id] if order in exits else []


def after_fill(state: MarketState, order: SimOrder) -> None:
    """An execution of a group's order: activate held exits, or cancel / resize the other exit."""
    members = _members(state, order)
    if not members:
        return
    if order is members[0] and order.order_class in ("bracket", "oto"):
        if order.status is OrderStatus.FILLED:
            for leg in members[1:]:
                if leg.status is OrderStatus.HELD:
                    route(state, leg)
        return
    for other in _exits(state, order):
        if not other.is_open:
            continue
        if order.status is OrderStatus.FILLED:
            _cancel(state, other)
        elif other.status is not OrderStatus.HELD and other.qty is not None:
            other.qty = max(other.filled_qty, order.leaves_qty)


def after_cancel(state: MarketState, order: SimOrder) -> None:
    """A group's order was canceled: the rest of the group is canceled too."""
    for other in _members(state, order):
        if other.id != order.id and other.is_open:
            _cancel(state, other)


def _cancel(state: MarketState, order: SimOrder) -> None:
    order.canceled_at = state.now()
    state.set_status(order, OrderStatus.CANCELED)
    state.emit("canceled", order)
