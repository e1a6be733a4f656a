"""PURE translation of bracket/OCO/OTO groups to Tradier's oto/oco/otoco classes and back (legs by role).

One POST /v1/accounts/{id}/orders with `class` otoco (a bracket), oco or oto and each order's fields indexed
(`side[0]`, `type[0]`, `price[0]`, `stop[0]`, `option_symbol[0]`, ...): first the entry (an OCO: the
take-profit), then the take-profit, then the stop-loss. Each leg sends its own `duration[i]` (Tradier takes a
top-level duration only when no leg sends one). The group's `tag` is the parent leg's client order id
(`<group id>-en`, an OCO's `-tp`); Tradier does not refuse a repeated tag, so the gateway looks it up first.

Tradier's rules, checked before sending: the orders that cancel each other (an OCO's two, an otoco's exits)
have the same symbol, the same duration and different types; only the first order of an oto/otoco may be a
market order. A group of options sends each leg's `option_symbol[i]` with the side from the position: the
entry's like a single order's (brokers/tradier/options.py), the exits the side that undoes it; an OCO's two
exits are read against the position like single orders.

Tradier lists a group as one order (its own id, class and status) with its orders in `leg`, each with its id,
terms and fills; the legs are matched to roles by position (the order they were sent in), checked by type.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.broker_integration.enums import AssetClass
from domain.broker_integration.order_groups import GroupKind, LegRole, OrderGroupRequest, leg_client_order_id
from domain.broker_integration.ports import OrderSnapshot
from domain.broker_integration.value_objects import BrokerOrder

from . import options
from .errors import TradierProtocolError, TradierUnsupportedOrderError
from .parsing import SIDE_TO_TRADIER, TAG_PATTERN, TIF_TO_TRADIER, TYPE_TO_TRADIER, format_decimal, typed_parser
from .schemas import TradierGroupOrder, TradierOrder, validated

__all__ = [
    "GROUP_CLASSES",
    "check_native",
    "group_form",
    "group_legs",
    "is_group",
    "leg_sides",
    "leg_wires",
    "native_problems",
    "wire_roles",
]

GROUP_CLASSES = {GroupKind.BRACKET: "otoco", GroupKind.OCO: "oco", GroupKind.OTO: "oto"}
_LEG_TYPES = {LegRole.TAKE_PROFIT: ("limit",), LegRole.STOP_LOSS: ("stop", "stop_limit")}


def wire_roles(group: OrderGroupRequest) -> tuple[LegRole, ...]:
    """The roles in the order Tradier receives them: [0] triggers (or, in an OCO, is the take-profit)."""
    order = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
    return tuple(role for role in order if role in group.roles)


def native_problems(group: OrderGroupRequest) -> list[str]:
    """What keeps Tradier from holding the group itself (empty: it can)."""
    problems: list[str] = []
    tag = leg_client_order_id(group.group_id, group.parent_role)
    if not TAG_PATTERN.match(tag):
        problems.append(f"tag {tag!r}: Tradier tags are letters, digits and '-' only")
    if group.asset_class not in (AssetClass.EQUITY, AssetClass.OPTION):
        problems.append(f"{group.asset_class} groups (equities and options only)")
    elif group.asset_class is AssetClass.OPTION and options.parse_occ(group.symbol) is None:
        problems.append(f"{group.symbol!r} is not an OCC option symbol")
    for leg in group.legs:
        if leg.order_type not in TYPE_TO_TRADIER:
            problems.append(f"{leg.role}: {leg.order_type} orders")
        if leg.time_in_force not in TIF_TO_TRADIER:
            problems.append(f"{leg.role}: time in force {leg.time_in_force} (DAY and GTC only)")
        if leg.quantity != leg.quantity.to_integral_value():
            problems.append(f"{leg.role}: fractional quantities")
    exits = [leg for leg in group.legs if leg.role is not LegRole.ENTRY]
    if len(exits) == 2 and exits[0].time_in_force is not exits[1].time_in_force:
        problems.append(
            "take-profit and stop-loss with different times in force (one-cancels-other orders "
            "share one duration at Tradier)"
        )
    return problems


def leg_sides(group: OrderGroupRequest, held: Decimal = Decimal(0)) -> dict[LegRole, str]:
    """Tradier's side of each leg; an option group's from the position `held` in the contract."""
    if group.asset_class is not AssetClass.OPTION:
        return {leg.role: SIDE_TO_TRADIER[leg.side] for leg in group.legs}
    entry = group.leg(LegRole.ENTRY)
    if entry is None:  # an OCO: two exits of the position held now
        return {leg.role: options.position_effect(leg.side, held, leg.quantity) for leg in group.legs}
    opening = options.position_effect(entry.side, held, entry.quantity)
    return {leg.role: opening if leg.role is LegRole.ENTRY else options.closing_effect(opening) for leg in group.legs}


def _leg_fields(order: BrokerOrder, side: str, i: int) -> dict[str, str]:
    contract = options.parse_occ(order.symbol) if order.asset_class is AssetClass.OPTION else None
    fields = {
        f"symbol[{i}]": contract.root if contract else order.symbol,
        f"side[{i}]": side,
        f"quantity[{i}]": format_decimal(order.quantity),
        f"type[{i}]": TYPE_TO_TRADIER[order.order_type],
        f"duration[{i}]": TIF_TO_TRADIER[order.time_in_force],
    }
    if contract is not None:
        fields[f"option_symbol[{i}]"] = order.symbol
    if order.price is not None:
        fields[f"price[{i}]"] = format_decimal(order.price)
    if order.stop_price is not None:
        fields[f"stop[{i}]"] = format_decimal(order.stop_price)
    return fields


def check_native(group: OrderGroupRequest) -> None:
    """Refuse (unsent) a group Tradier cannot hold, with every reason."""
    problems = native_problems(group)
    if problems:
        raise TradierUnsupportedOrderError(
            f"Tradier cannot hold this {group.kind}: {'; '.join(problems)}; the group was not sent"
        )


def group_form(group: OrderGroupRequest, sides: dict[LegRole, str]) -> dict[str, str]:
    """The form of the group's POST; refuses (unsent) what Tradier cannot hold."""
    check_native(group)
    form = {"class": GROUP_CLASSES[group.kind], "tag": leg_client_order_id(group.group_id, group.parent_role)}
    for i, role in enumerate(wire_roles(group)):
        form.update(_leg_fields(group.broker_order(role), sides[role], i))
    return form


def is_group(payload: Any) -> bool:
    """Whether a listed order is an oto/oco/otoco group."""
    return isinstance(payload, dict) and payload.get("class") in ("oto", "oco", "otoco")


def leg_wires(parent: TradierGroupOrder) -> list[TradierOrder]:
    """The group's orders: `leg` as a list, one object (a single leg) or "null"/absent (none)."""
    found = parent.leg
    if found is None or found in ("null", ""):
        return []
    if isinstance(found, dict) and set(found) == {"leg"}:  # {"leg": {...} | [...]}: one more XML level
        return leg_wires(parent.model_copy(update={"leg": found["leg"]}))
    listed = found if isinstance(found, list) else [found]
    return [validated(TradierOrder, leg, f"order {parent.id}: leg") for leg in listed]


@typed_parser
def group_legs(parent: TradierGroupOrder, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
    """The group's orders by role, each named by its leg's client order id (`<group id>-en|tp|sl`)."""
    if parent.class_ != GROUP_CLASSES[group.kind]:
        raise TradierProtocolError(f"order {parent.id}: class {parent.class_!r}, not {GROUP_CLASSES[group.kind]!r}")
    wires, roles = leg_wires(parent), wire_roles(group)
    if len(wires) != len(roles):
        raise TradierProtocolError(f"order {parent.id}: {len(wires)} legs for a {group.kind} of {len(roles)}")
    legs: dict[LegRole, OrderSnapshot] = {}
    for role, wire in zip(roles, wires, strict=True):
        if wire.type not in _LEG_TYPES.get(role, (wire.type,)):
            raise TradierProtocolError(f"order {parent.id}: a {wire.type} leg {wire.id} cannot be the {role}")
        snapshot = options.report_snapshot(wire)
        legs[role] = snapshot.model_copy(update={"client_order_id": leg_client_order_id(group.group_id, role)})
    return legs
