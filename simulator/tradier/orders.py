"""Tradier's option orders (`class=option`) and advanced classes (`class=oto|oco|otoco`, indexed legs).

An option order names its underlying in `symbol` and the contract in `option_symbol` (OCC), with a side
that says what it does to the position: buy_to_open, buy_to_close, sell_to_open, sell_to_close. The
contract is listed by the core on first use and priced from its underlying (simulator/core/options.py).

An advanced order sends each order's fields with an index (`side[0]`, `type[0]`, `option_symbol[1]`, ...)
and one top-level `duration` or one per leg. Rules checked as Tradier documents them: oto = 2 orders (the
first triggers the second), oco = 2 orders, otoco = 3 (the first triggers an oco of the others); orders
that cancel each other have the same symbol, the same duration and different types; only the first order
of an oto/otoco may be a market order. The core holds the triggered legs until the first order has filled
completely and cancels an oco sibling when one leg fills. Our limit: all the legs of a group trade one
instrument (Tradier allows, e.g., a stock entry with an option exit).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from simulator.core import Account, OrderRequest, OrderType, Rejection, Side
from simulator.core.groups import GroupRequest, submit_group
from simulator.core.options import list_option, parse_occ
from simulator.tradier.book import TradierOrder
from simulator.tradier.frontend import TradierError, TradierFrontEnd, from_rejection
from simulator.tradier.routes import DURATIONS, SIDES, TAG, TYPES, _check_side, _choice, _decimal

__all__ = ["ADVANCED_CLASSES", "OPTION_SIDES", "Leg", "parse_leg", "place"]

OPTION_SIDES = {
    "buy_to_open": Side.BUY,
    "buy_to_close": Side.BUY,
    "sell_to_open": Side.SELL,
    "sell_to_close": Side.SELL,
}
# Tradier's class -> (number of orders, the core's order class)
ADVANCED_CLASSES = {"oto": (2, "oto"), "oco": (2, "oco"), "otoco": (3, "bracket")}
ZERO = Decimal(0)


@dataclass(frozen=True)
class Leg:
    """One order of a request, checked: the core's request and the words the client used."""

    request: OrderRequest
    side: str
    duration: str
    klass: str  # "equity" | "option"
    underlying: str | None = None


def _check_option_side(side: str, held: Decimal, qty: Decimal) -> None:
    """An option side must fit the position in the contract (opening never crosses an opposite position)."""
    if side == "buy_to_open" and held < 0:
        raise TradierError(400, "Order side buy_to_open is not valid for a short position: use buy_to_close")
    if side == "sell_to_open" and held > 0:
        raise TradierError(400, "Order side sell_to_open is not valid for a long position: use sell_to_close")
    if side == "buy_to_close" and qty > -min(held, ZERO):
        raise TradierError(400, f"Order side buy_to_close exceeds the short position ({-min(held, ZERO)})")
    if side == "sell_to_close" and qty > max(held, ZERO):
        raise TradierError(400, f"Order side sell_to_close exceeds the long position ({max(held, ZERO)})")


def _quantity(fields: dict[str, str], key: str) -> Decimal:
    qty = _decimal(fields, key)
    if qty is None or qty != qty.to_integral_value():
        raise TradierError(400, f"Invalid Parameter: {key} (a whole number of shares or contracts)")
    return qty


def _option_symbol(front: TradierFrontEnd, fields: dict[str, str], index: str) -> tuple[str, str]:
    """(contract, underlying) of an option order, the contract listed at the exchange."""
    contract = fields.get(f"option_symbol{index}", "").strip().upper()
    occ = parse_occ(contract)
    if occ is None:
        raise TradierError(400, f"Invalid Parameter: option_symbol{index} ({contract or 'missing'}: not an OCC symbol)")
    underlying = (fields.get(f"symbol{index}") or fields.get("symbol") or occ.root).strip().upper()
    if underlying != occ.root:
        raise TradierError(400, f"Invalid Parameter: option_symbol{index} is not an option on {underlying}")
    try:
        list_option(front.sim.exchange.state, contract)
    except Rejection as rejection:
        raise from_rejection(rejection) from None
    return contract, underlying


def parse_leg(
    front: TradierFrontEnd, account: Account, fields: dict[str, str], index: str = "", *, check_position: bool = True
) -> Leg:
    """The order at `index` ("" for a single order, "[i]" for a leg), refused the way Tradier refuses it."""
    option = bool(fields.get(f"option_symbol{index}", "").strip())
    if option:
        symbol, underlying = _option_symbol(front, fields, index)
    else:
        symbol, underlying = (fields.get(f"symbol{index}") or fields.get("symbol") or "").strip().upper(), None
        if not symbol:
            raise TradierError(400, f"Missing Parameter: symbol{index}")
    side = _choice(fields, f"side{index}", OPTION_SIDES if option else SIDES)
    kind = _choice(fields, f"type{index}", TYPES)
    duration_key = f"duration{index}" if fields.get(f"duration{index}") else "duration"
    duration = _choice(fields, duration_key, DURATIONS)
    qty = _quantity(fields, f"quantity{index}")
    price, stop = _decimal(fields, f"price{index}"), _decimal(fields, f"stop{index}")
    if kind in ("limit", "stop_limit") and price is None:
        raise TradierError(400, f"Missing Parameter: price{index}")
    if kind in ("stop", "stop_limit") and stop is None:
        raise TradierError(400, f"Missing Parameter: stop{index}")
    if duration in ("pre", "post") and (option or kind != "limit"):
        raise TradierError(400, "Extended hours orders must be equity limit orders")
    if check_position:
        held = account.position_qty(symbol)
        (_check_option_side if option else _check_side)(side, held, qty)
    request = OrderRequest(
        symbol,
        (OPTION_SIDES if option else SIDES)[side],
        TYPES[kind],
        DURATIONS[duration],
        qty=qty,
        limit_price=price if kind in ("limit", "stop_limit") else None,
        stop_price=stop if kind in ("stop", "stop_limit") else None,
        extended_hours=duration in ("pre", "post"),
    )
    return Leg(request, side, duration, "option" if option else "equity", underlying)


def _tag(fields: dict[str, str]) -> str | None:
    tag = fields.get("tag") or None
    if tag is not None and not TAG.match(tag):
        raise TradierError(400, "Invalid Parameter: tag (up to 255 letters, digits and dashes)")
    return tag


def _ack(order_id: int) -> dict[str, Any]:
    return {"order": {"id": order_id, "status": "ok", "partner_id": str(uuid.uuid5(uuid.NAMESPACE_OID, "sim"))}}


def place(front: TradierFrontEnd, account: Account, fields: dict[str, str]) -> dict[str, Any]:
    """POST /v1/accounts/{id}/orders for `class=option|oto|oco|otoco`, recorded like every placement."""
    entry = front.sim.record_submission(account.id, fields.get("tag"), dict(fields))
    try:
        if fields.get("preview", "").lower() == "true":
            raise TradierError(400, "preview is not supported by this simulator")
        klass = fields.get("class", "").strip().lower()
        order_id = (
            _place_option(front, account, fields) if klass == "option" else _place_group(front, account, fields, klass)
        )
    except Rejection as rejection:
        entry.http_status, entry.message = from_rejection(rejection).status, rejection.message
        raise
    except TradierError as error:
        entry.http_status, entry.message = error.status, str(error)
        raise
    entry.http_status, entry.order_id = 200, str(order_id)
    return _ack(order_id)


def _place_option(front: TradierFrontEnd, account: Account, fields: dict[str, str]) -> int:
    if not fields.get("option_symbol", "").strip():
        raise TradierError(400, "Missing Parameter: option_symbol (an order of class option names its contract)")
    leg = parse_leg(front, account, fields)
    book = front.book
    record = book.add(account.id, leg.side, leg.duration, _tag(fields), klass="option", underlying=leg.underlying)
    book.pending = record
    try:
        front.sim.exchange.submit(account.id, leg.request)
    finally:
        book.forget(record)
    return record.id


def _check_group(klass: str, legs: list[Leg]) -> None:
    """Tradier's rules for the orders of an advanced class (and our one-instrument limit)."""
    coupled = legs if klass == "oco" else legs[1:] if klass == "otoco" else []
    if any(leg.request.type is OrderType.MARKET for leg in coupled):
        raise TradierError(400, "Invalid Parameter: type (only the first order may be a market order)")
    if coupled:
        first, second = coupled
        if first.request.type is second.request.type:
            raise TradierError(400, "Invalid Parameter: type (the one-cancels-other orders need different types)")
        if first.duration != second.duration:
            raise TradierError(400, "Invalid Parameter: duration (the one-cancels-other orders need the same one)")
        if first.request.symbol != second.request.symbol:
            raise TradierError(400, "Invalid Parameter: symbol (the one-cancels-other orders need the same one)")
    if len({leg.request.symbol for leg in legs}) > 1:
        raise TradierError(400, "this simulator places oto/oco/otoco orders on one symbol or option_symbol only")


def _place_group(front: TradierFrontEnd, account: Account, fields: dict[str, str], klass: str) -> int:
    if klass not in ADVANCED_CLASSES:
        raise TradierError(400, f"Invalid Parameter: class ({klass or 'missing'})")
    count, core_class = ADVANCED_CLASSES[klass]
    # What triggers later is not checked against today's position; the orders that work now are.
    legs = [parse_leg(front, account, fields, f"[{i}]", check_position=klass == "oco" or i == 0) for i in range(count)]
    _check_group(klass, legs)
    tag, book = _tag(fields), front.book
    parent = book.add(account.id, legs[0].side, legs[0].duration, tag, klass=klass, underlying=legs[0].underlying)
    records = [
        book.add(
            account.id, leg.side, leg.duration, None, klass=leg.klass, underlying=leg.underlying, parent_id=parent.id
        )
        for leg in legs
    ]
    parent.legs = [r.id for r in records]
    client_id = f"tradier-{parent.id}"
    group = GroupRequest(
        parent=replace(legs[0].request, client_order_id=client_id),
        order_class=core_class,
        legs=tuple(leg.request for leg in legs[1:]),
    )
    book.pending_group = (client_id, records)
    try:
        accepted = submit_group(front.sim.exchange, account.id, group)
    except Exception:
        for record in (parent, *records):
            book.orders.pop(record.id, None)
        raise
    finally:
        book.pending_group = None
    _link(front, records, accepted.id, accepted.legs)
    return parent.id


def _link(front: TradierFrontEnd, records: list[TradierOrder], first: str, others: tuple[str, ...]) -> None:
    """Tie each leg to its core order (those that emitted no event while being placed are not tied yet)."""
    for record, core_id in zip(records, (first, *others), strict=True):
        if not record.core_ids:
            front.book.link(record, core_id)
