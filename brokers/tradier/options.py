"""PURE: equity options on Tradier: OCC symbols, the open/close side, the option order form, option reports.

brokerflow names an option by its OCC symbol (`AAPL240119C00190000`: root, expiry YYMMDD, C or P, strike x 1000
in 8 digits) with asset class OPTION; one contract is 100 shares (domain rules/assets.py). Tradier wants
`class=option`, the underlying in `symbol`, the contract in `option_symbol`, a whole number of contracts, and a
side that says what the order does to the position in that contract.

Which side (the domain has no position-effect field; its sides say it where they can):

* SELL_SHORT writes: sell_to_open. BUY_TO_COVER buys back what was written: buy_to_close.
* BUY and SELL are read against the account's position in the contract, which the gateway asks for just
  before placing: BUY opens (buy_to_open), or closes (buy_to_close) when the account is short the contract;
  SELL closes a long (sell_to_close).
* Refused before sending (TradierPositionEffectError), because Tradier would refuse them and guessing would be
  worse: an order that would cross through zero (it needs a close and an open), a SELL with nothing long to
  sell (writing is SELL_SHORT, never a silent consequence of SELL), a SELL_SHORT while long, a BUY_TO_COVER
  beyond the short.

Tradier answers an option order with `class: option`, the underlying in `symbol` and the contract in
`option_symbol`: reports name the contract, the symbol brokerflow used. Positions carry the contract as
`symbol` and a cost basis that includes the multiplier; the domain's average price is per share (like fills).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AssetClass, OrderSide
from domain.broker_integration.ports import OrderSnapshot
from domain.broker_integration.rules.assets import precision_for
from domain.broker_integration.value_objects import BrokerOrder

from .errors import TradierPositionEffectError, TradierProtocolError, TradierUnsupportedOrderError
from .parsing import (
    SIDE_FROM_TRADIER,
    TIF_TO_TRADIER,
    TYPE_TO_TRADIER,
    check_terms,
    dec,
    format_decimal,
    order_snapshot,
    typed_parser,
)
from .schemas import TradierOrder, TradierPosition

__all__ = [
    "CONTRACT_SIZE",
    "OPEN_CLOSE_SIDES",
    "OccSymbol",
    "check_option_order",
    "closing_effect",
    "is_option",
    "option_form",
    "parse_occ",
    "position_effect",
    "position_of",
    "report_side",
    "report_snapshot",
    "with_option_positions",
]

CONTRACT_SIZE = precision_for(AssetClass.OPTION, "").multiplier
OCC_SYMBOL = re.compile(r"^(?P<root>[A-Z][A-Z0-9]{0,5})(?P<expiry>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")
OPEN_CLOSE_SIDES = {
    "buy_to_open": OrderSide.BUY,
    "sell_to_close": OrderSide.SELL,
    "sell_to_open": OrderSide.SELL_SHORT,
    "buy_to_close": OrderSide.BUY_TO_COVER,
}
_OPPOSITE = {
    "buy_to_open": "sell_to_close",
    "sell_to_close": "buy_to_open",
    "sell_to_open": "buy_to_close",
    "buy_to_close": "sell_to_open",
}


@dataclass(frozen=True)
class OccSymbol:
    """An OCC option symbol taken apart."""

    root: str
    expiry: date
    right: str  # "C" or "P"
    strike: Decimal


def parse_occ(symbol: str) -> OccSymbol | None:
    """The parts of an OCC symbol (no padding: `AAPL240119C00190000`); None when it is not one."""
    match = OCC_SYMBOL.match(symbol)
    if match is None:
        return None
    raw = match["expiry"]
    try:
        expiry = date(2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:]))
    except ValueError:
        return None
    strike = Decimal(match["strike"]) / 1000
    return OccSymbol(match["root"], expiry, match["right"], strike) if strike > 0 else None


def check_option_order(order: BrokerOrder) -> OccSymbol:
    """The order's contract; refuse before sending what Tradier cannot do with an option order."""
    contract = parse_occ(order.symbol)
    if contract is None:
        raise TradierUnsupportedOrderError(
            f"{order.symbol!r} is not an OCC option symbol (e.g. AAPL240119C00190000); the order was not sent"
        )
    check_terms(order, kind="option orders", fractions="fractions of an option contract",
                extended="options in extended hours")
    return contract


def position_effect(side: OrderSide, held: Decimal, quantity: Decimal) -> str:
    """Tradier's option side for a domain side, given the position held in the contract (negative: short)."""
    short, long_ = max(-held, Decimal(0)), max(held, Decimal(0))
    if side is OrderSide.BUY_TO_COVER or (side is OrderSide.BUY and short > 0):
        if quantity > short:
            raise TradierPositionEffectError(
                f"buy {quantity} to close a short of {short} would cross through zero: "
                f"send BUY_TO_COVER {short} and BUY the rest; the order was not sent"
            )
        return "buy_to_close"
    if side is OrderSide.BUY:
        return "buy_to_open"
    if side is OrderSide.SELL_SHORT:
        if long_ > 0:
            raise TradierPositionEffectError(
                f"SELL_SHORT writes contracts, but the account is long {long_}: SELL them first; the order was not sent"
            )
        return "sell_to_open"
    if quantity > long_:
        raise TradierPositionEffectError(
            f"SELL closes a long position, and the account holds {long_} of {quantity}: to write contracts send "
            f"SELL_SHORT; the order was not sent"
        )
    return "sell_to_close"


def closing_effect(opening: str) -> str:
    """The side that undoes another: the exits of an option entry (buy_to_open -> sell_to_close, ...)."""
    return _OPPOSITE[opening]


def option_form(order: BrokerOrder, side: str) -> dict[str, str]:
    """The form of POST /v1/accounts/{id}/orders for an option order, the client order id as `tag`."""
    contract = check_option_order(order)
    form = {
        "class": "option",
        "symbol": contract.root,
        "option_symbol": order.symbol,
        "side": side,
        "quantity": format_decimal(order.quantity),
        "type": TYPE_TO_TRADIER[order.order_type],
        "duration": TIF_TO_TRADIER[order.time_in_force],
        "tag": order.client_order_id,
    }
    if order.price is not None:
        form["price"] = format_decimal(order.price)
    if order.stop_price is not None:
        form["stop"] = format_decimal(order.stop_price)
    return form


def is_option(wire: TradierOrder) -> bool:
    return wire.class_ == "option" or (wire.class_ in (None, "") and bool(wire.option_symbol))


@typed_parser
def report_snapshot(wire: TradierOrder) -> OrderSnapshot:
    """The domain's view of any single Tradier order: an option order is named by its contract."""
    snapshot = order_snapshot(wire)
    if not is_option(wire):
        return snapshot
    if not wire.option_symbol or parse_occ(wire.option_symbol) is None:
        raise TradierProtocolError(f"option order {wire.id}: option_symbol {str(wire.option_symbol)[:40]!r}")
    return snapshot.model_copy(update={"symbol": wire.option_symbol})


def report_side(wire: TradierOrder) -> OrderSide:
    """The domain side of an equity or option order."""
    side = OPEN_CLOSE_SIDES.get(wire.side) or SIDE_FROM_TRADIER.get(wire.side)
    if side is None:
        raise TradierProtocolError(f"unknown side {wire.side!r}")
    return side


@typed_parser
def position_of(wire: TradierPosition) -> Position | None:
    """An option position (None for any other): average price per share, like the fills."""
    if parse_occ(wire.symbol) is None:
        return None
    qty = dec(wire.quantity)
    avg = abs(dec(wire.cost_basis) / (qty * CONTRACT_SIZE)) if qty else Decimal(0)
    if not avg.is_finite() or avg >= Decimal(10) ** 15:
        raise TradierProtocolError(f"position {wire.symbol}: average price out of range")
    return Position(symbol=wire.symbol, quantity=qty, asset_class=AssetClass.OPTION, avg_entry_price=avg)


def with_option_positions(account: BrokerAccount, wires: list[TradierPosition]) -> BrokerAccount:
    """The account with its option positions read as options (the equity reading divides by shares)."""
    found = {p.symbol: p for p in (position_of(w) for w in wires) if p is not None}
    if not found:
        return account
    return account.model_copy(update={"positions": {**account.positions, **found}})
