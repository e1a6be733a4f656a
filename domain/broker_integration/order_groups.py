"""Contingent order groups: bracket, OCO and OTO requests and their validation (pure).

- BRACKET: an ENTRY plus two exits, a TAKE_PROFIT limit and a STOP_LOSS stop (or stop-limit), on the opposite
  side with the entry's quantity; the exits wait until the entry is filled, then one cancels the other.
- OCO: two exit legs (TAKE_PROFIT limit, STOP_LOSS stop), same side and quantity; a fill of one cancels the other.
- OTO: an ENTRY that, once filled, activates one exit (TAKE_PROFIT or STOP_LOSS).

Prices must make sense for the direction: for exits that sell (closing a long) the take-profit is above the
stop-loss and, with a limit entry, above the entry and the stop below it; for exits that buy, the reverse.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from .base import ValueObject, to_decimal, upper_enum
from .enums import AssetClass, OrderSide, OrderType, TimeInForce
from .errors import DomainValidationError, InvalidOrderError, Problem
from .value_objects import BrokerOrder

__all__ = [
    "GroupKind",
    "GroupLeg",
    "InvalidOrderGroupError",
    "LegRole",
    "OrderGroupRequest",
    "exit_side",
    "leg_client_order_id",
]

MAX_GROUP_ID_LENGTH = BrokerOrder.MAX_ID_LENGTH - 3  # room for the leg suffix "-tp"


class GroupKind(StrEnum):
    BRACKET = "BRACKET"
    OCO = "OCO"
    OTO = "OTO"


class LegRole(StrEnum):
    ENTRY = "ENTRY"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_LOSS = "STOP_LOSS"

    @property
    def suffix(self) -> str:
        """The leg's client order id suffix."""
        return {"ENTRY": "en", "TAKE_PROFIT": "tp", "STOP_LOSS": "sl"}[self.value]


ROLES: dict[GroupKind, tuple[frozenset[LegRole], ...]] = {
    GroupKind.BRACKET: (frozenset({LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS}),),
    GroupKind.OCO: (frozenset({LegRole.TAKE_PROFIT, LegRole.STOP_LOSS}),),
    GroupKind.OTO: (frozenset({LegRole.ENTRY, LegRole.TAKE_PROFIT}), frozenset({LegRole.ENTRY, LegRole.STOP_LOSS})),
}


class InvalidOrderGroupError(DomainValidationError):
    """An order group whose legs do not make a valid bracket, OCO or OTO."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, subject="order group")


def exit_side(entry: OrderSide) -> OrderSide:
    """The side that closes what the entry opened."""
    return {OrderSide.BUY: OrderSide.SELL, OrderSide.SELL: OrderSide.BUY,
            OrderSide.SELL_SHORT: OrderSide.BUY_TO_COVER, OrderSide.BUY_TO_COVER: OrderSide.SELL_SHORT}[entry]


def leg_client_order_id(group_id: str, role: LegRole) -> str:
    """The client order id of a group's leg: '<group id>-en|tp|sl'."""
    return f"{group_id}-{role.suffix}"


class GroupLeg(ValueObject):
    """One leg of a group: an order's terms without symbol, connection or id (the group's)."""

    role: LegRole
    side: OrderSide
    quantity: Decimal
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY

    _upper = field_validator("role", "side", "order_type", "time_in_force", mode="before")(upper_enum)
    _decimals = field_validator("quantity", "limit_price", "stop_price", mode="before")(to_decimal)

    @property
    def trigger_price(self) -> Decimal | None:
        """The price the leg acts at: the limit of a take-profit, the stop of a stop-loss."""
        return self.stop_price if self.role is LegRole.STOP_LOSS else self.limit_price


class OrderGroupRequest(ValueObject):
    """A bracket, OCO or OTO group: validated on construction (InvalidOrderGroupError lists every problem)."""

    _error_class = InvalidOrderGroupError

    group_id: str = Field(min_length=1, max_length=MAX_GROUP_ID_LENGTH, pattern=r"^[A-Za-z0-9._:\-]+$")
    kind: GroupKind
    symbol: str = Field(min_length=1, max_length=32)
    legs: tuple[GroupLeg, ...] = Field(min_length=2, max_length=3)
    asset_class: AssetClass = AssetClass.EQUITY
    connection_id: str | None = None
    account_id: str | None = None

    _upper = field_validator("kind", "symbol", "asset_class", mode="before")(upper_enum)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        problems = group_problems(self)
        if problems:
            raise InvalidOrderGroupError(problems)

    def leg(self, role: LegRole) -> GroupLeg | None:
        """The leg with that role, if the group has one."""
        return next((leg for leg in self.legs if leg.role is role), None)

    @property
    def parent_role(self) -> LegRole:
        """The leg a broker's native group is placed as (the others are its legs): the entry, or an OCO's
        take-profit."""
        return LegRole.TAKE_PROFIT if self.kind is GroupKind.OCO else LegRole.ENTRY

    @property
    def roles(self) -> tuple[LegRole, ...]:
        return tuple(leg.role for leg in self.legs)

    def broker_order(self, role: LegRole, quantity: Decimal | None = None) -> BrokerOrder:
        """The leg as a domain order with its derived client order id (`quantity` overrides the leg's)."""
        leg = self.leg(role)
        if leg is None:
            raise InvalidOrderGroupError([Problem("legs", f"the group has no {role} leg")])
        return _broker_order(self, leg, quantity)


def _broker_order(group: OrderGroupRequest, leg: GroupLeg, quantity: Decimal | None = None) -> BrokerOrder:
    return BrokerOrder(
        client_order_id=leg_client_order_id(group.group_id, leg.role), symbol=group.symbol, side=leg.side,
        quantity=quantity if quantity is not None else leg.quantity, order_type=leg.order_type,
        price=leg.limit_price, stop_price=leg.stop_price, asset_class=group.asset_class,
        connection_id=group.connection_id, account_id=group.account_id,
        execution_params={"time_in_force": leg.time_in_force},
    )


def group_problems(group: OrderGroupRequest) -> list[Problem]:
    """Every problem of the group: roles, each leg as an order, sides, quantities, leg types and prices."""
    roles = [leg.role for leg in group.legs]
    if len(set(roles)) != len(roles) or frozenset(roles) not in ROLES[group.kind]:
        wanted = " or ".join("+".join(sorted(r)) for r in ROLES[group.kind])
        return [Problem("legs", f"a {group.kind} needs legs {wanted}, got {'+'.join(roles)}")]
    problems: list[Problem] = []
    for leg in group.legs:
        try:
            _broker_order(group, leg)
        except InvalidOrderError as exc:
            problems += [Problem(f"legs.{leg.role}.{p.field}", p.message) for p in exc.problems]
    problems += _type_problems(group)
    if problems:
        return problems
    return _side_and_quantity_problems(group) + _price_problems(group)


def _type_problems(group: OrderGroupRequest) -> list[Problem]:
    problems = []
    tp, sl = group.leg(LegRole.TAKE_PROFIT), group.leg(LegRole.STOP_LOSS)
    if tp is not None and tp.order_type is not OrderType.LIMIT:
        problems.append(Problem("legs.TAKE_PROFIT.order_type", f"a take-profit is a LIMIT order, not {tp.order_type}"))
    if sl is not None and sl.order_type not in (OrderType.STOP, OrderType.STOP_LIMIT):
        problems.append(Problem("legs.STOP_LOSS.order_type",
                                f"a stop-loss is a STOP or STOP_LIMIT order, not {sl.order_type}"))
    entry = group.leg(LegRole.ENTRY)
    if entry is not None and entry.order_type is OrderType.TRAILING_STOP:
        problems.append(Problem("legs.ENTRY.order_type", "a trailing stop cannot open a group"))
    return problems


def _side_and_quantity_problems(group: OrderGroupRequest) -> list[Problem]:
    entry = group.leg(LegRole.ENTRY)
    exits = [leg for leg in group.legs if leg.role is not LegRole.ENTRY]
    problems = []
    if entry is not None:
        want = exit_side(entry.side)
        for leg in exits:
            if leg.side is not want:
                problems.append(Problem(f"legs.{leg.role}.side",
                                        f"must be {want} to close the {entry.side} entry, not {leg.side}"))
            if leg.quantity != entry.quantity:
                problems.append(Problem(f"legs.{leg.role}.quantity",
                                        f"must equal the entry's quantity {entry.quantity}, not {leg.quantity}"))
    elif exits[0].side is not exits[1].side or exits[0].quantity != exits[1].quantity:
        problems.append(Problem("legs", "the two legs of an OCO must have the same side and quantity"))
    return problems


def _price_problems(group: OrderGroupRequest) -> list[Problem]:
    """Take-profit beyond the entry, stop-loss before it (in the exit's direction)."""
    tp, sl, entry = group.leg(LegRole.TAKE_PROFIT), group.leg(LegRole.STOP_LOSS), group.leg(LegRole.ENTRY)
    exit_leg = tp or sl
    assert exit_leg is not None
    selling = not exit_leg.side.is_buy  # the exits sell: the entry bought
    direction = "buy" if selling else "sell"
    problems = []
    tp_price = tp.trigger_price if tp is not None else None
    sl_price = sl.trigger_price if sl is not None else None
    if tp_price is not None and sl_price is not None and not _beyond(tp_price, sl_price, selling):
        word = "above" if selling else "below"
        problems.append(Problem("legs.TAKE_PROFIT.limit_price",
                                f"take-profit {tp_price} must be {word} the stop-loss {sl_price} for a {direction}"))
    base = entry.limit_price if entry is not None and entry.order_type is OrderType.LIMIT else None
    if base is None:
        return problems
    if tp_price is not None and not _beyond(tp_price, base, selling):
        problems.append(Problem("legs.TAKE_PROFIT.limit_price",
                                f"take-profit {tp_price} must be {'above' if selling else 'below'} the entry "
                                f"{base} of a {direction} {group.kind.lower()}"))
    if sl_price is not None and not _beyond(base, sl_price, selling):
        problems.append(Problem("legs.STOP_LOSS.stop_price",
                                f"stop-loss {sl_price} must be {'below' if selling else 'above'} the entry "
                                f"{base} of a {direction} {group.kind.lower()}"))
    return problems


def _beyond(high: Decimal, low: Decimal, selling: bool) -> bool:
    return high > low if selling else high < low

