"""PURE translation between OANDA's wire models and the domain: symbols and enums both ways, reports, requests.

Forex symbols: the domain's unified `EUR/USD`, OANDA's instrument `EUR_USD`. Units are signed on the wire
(positive buys, negative sells); the domain has a side and a positive quantity.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

from brokers import parsing_support
from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AccountType, AssetClass, OrderSide, OrderType, TimeInForce
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, TradeEventKind
from domain.broker_integration.rules.assets import forex_pair
from domain.broker_integration.rules.validation import decimal_in_range
from domain.broker_integration.value_objects import BrokerOrder, ExecutionReport

from .errors import OandaProtocolError, OandaUnsupportedOrderError
from .schemas import OandaAccountSummary, OandaOrder, OandaPosition, OandaTransaction

__all__ = [
    "CANCEL_KINDS",
    "TIF_TO_OANDA",
    "TYPE_TO_OANDA",
    "broker_account",
    "check_supported",
    "dec",
    "execution_report",
    "format_decimal",
    "from_instrument",
    "order_request",
    "order_snapshot",
    "parse_timestamp",
    "position",
    "replace_request",
    "replacement_client_id",
    "root_client_order_id",
    "signed_units",
    "to_instrument",
    "typed_parser",
]

TYPE_TO_OANDA = {OrderType.MARKET: "MARKET", OrderType.LIMIT: "LIMIT", OrderType.STOP: "STOP"}
# DAY is OANDA's "good for day" (GFD); OPG and CLS (auctions) do not exist in forex.
TIF_TO_OANDA = {TimeInForce.GTC: "GTC", TimeInForce.GTD: "GTD", TimeInForce.DAY: "GFD", TimeInForce.IOC: "IOC",
                TimeInForce.FOK: "FOK"}
MARKET_TIFS = frozenset({TimeInForce.FOK, TimeInForce.IOC})
INSTRUMENT = re.compile(r"^(?P<base>[A-Z]{3})_(?P<quote>[A-Z]{3})$")
_REPLACEMENT = re.compile(r"^(?P<root>.+)~r[0-9a-f]{10}$")
MAX_CLIENT_ID = 128

S = OrderStatus
K = TradeEventKind
# ORDER_CANCEL reasons as outcomes: a replaced order lives on under its replacement (REPLACED, not CANCELED).
CANCEL_KINDS = {"TIME_IN_FORCE_EXPIRED": K.EXPIRED, "CLIENT_REQUEST_REPLACED": K.REPLACED}
_DATETIME = TypeAdapter(datetime)
# Places of a number we accept from OANDA (its magnitude bound is the domain's): beyond them it is garbage.
MAX_SCALE = 28

# Any failure to read a hostile or malformed payload becomes OandaProtocolError (never a crash).
typed_parser = parsing_support.typed_parser(OandaProtocolError)


def _checked(value: Decimal, what: str, *, signed: bool = True) -> Decimal:
    """A figure read or computed from wire numbers, refused when out of range (or negative when it may not be)."""
    if not decimal_in_range(value, max_scale=MAX_SCALE) or (not signed and value < 0):
        raise OandaProtocolError(f"{what} out of range: {value}")
    return value


def to_instrument(symbol: str) -> str:
    """`EUR/USD` -> `EUR_USD`; anything else is refused."""
    pair = forex_pair(symbol)
    if pair is None:
        raise OandaUnsupportedOrderError(f"OANDA trades forex pairs written BASE/QUOTE (e.g. EUR/USD), not {symbol!r}")
    return f"{pair[0]}_{pair[1]}"


def from_instrument(instrument: str) -> str:
    """`EUR_USD` -> `EUR/USD` (other instruments, such as CFDs, keep OANDA's name)."""
    match = INSTRUMENT.match(instrument)
    return f"{match['base']}/{match['quote']}" if match else instrument


@typed_parser
def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 time (nanoseconds are cut to microseconds) as aware UTC."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        parsed = _DATETIME.validate_python(text)
    except ValidationError:
        raise OandaProtocolError(f"not a timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise OandaProtocolError(f"timestamp without offset: {value[:40]!r}")
    return parsed.astimezone(UTC)


def ts_or_none(value: str | None) -> datetime | None:
    return None if not value else parse_timestamp(value)


def decimal_or_none(value: str | None) -> Decimal | None:
    """A decimal string as Decimal (OANDA sends every decimal as a string)."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise OandaProtocolError(f"not a decimal: {str(value)[:40]!r}") from None
    if not decimal_in_range(number, max_scale=MAX_SCALE):
        raise OandaProtocolError(f"not a finite decimal within range: {str(value)[:40]!r}")
    return Decimal(0) if number.is_zero() else number


def dec(value: str | None) -> Decimal:
    return decimal_or_none(value) or Decimal("0")


def format_decimal(value: Decimal) -> str:
    """A decimal for a request: plain notation, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


def signed_units(side: OrderSide, quantity: Decimal) -> str:
    """Positive units buy, negative units sell (SELL and SELL_SHORT alike: OANDA nets positions)."""
    return format_decimal(quantity if side.is_buy else -quantity)


def _refuse(what: str) -> OandaUnsupportedOrderError:
    return OandaUnsupportedOrderError(f"OANDA does not support {what}; the order was not sent")


def check_supported(order: BrokerOrder) -> None:
    """Refuse before sending what OANDA (through this adapter) cannot do, with the reason."""
    if order.asset_class is not AssetClass.FOREX:
        raise _refuse(f"{order.asset_class} orders through brokerflow (forex only)")
    to_instrument(order.symbol)
    if order.order_type not in TYPE_TO_OANDA:
        raise _refuse(f"{order.order_type} orders (MARKET, LIMIT and STOP only)")
    if order.time_in_force not in TIF_TO_OANDA:
        raise _refuse(f"time in force {order.time_in_force}")
    if order.order_type is OrderType.MARKET and order.time_in_force not in MARKET_TIFS:
        raise _refuse(f"{order.time_in_force} on a MARKET order (FOK or IOC only)")
    if order.quantity != order.quantity.to_integral_value():
        raise _refuse("fractional units (whole units of the base currency only)")
    if order.execution_params.extended_hours:
        raise _refuse("extended hours (forex trades around the clock on weekdays)")
    if len(order.client_order_id) > MAX_CLIENT_ID - 12:  # room for a replacement's suffix
        raise _refuse(f"client order ids longer than {MAX_CLIENT_ID - 12} characters")


def order_request(order: BrokerOrder) -> dict[str, Any]:
    """The `order` of POST /v3/accounts/{id}/orders, the client order id as `clientExtensions.id`."""
    check_supported(order)
    body: dict[str, Any] = {"type": TYPE_TO_OANDA[order.order_type], "instrument": to_instrument(order.symbol),
                            "units": signed_units(order.side, order.quantity),
                            "timeInForce": TIF_TO_OANDA[order.time_in_force], "positionFill": "DEFAULT",
                            "clientExtensions": {"id": order.client_order_id, "tag": "brokerflow"}}
    price = order.price if order.order_type is OrderType.LIMIT else order.stop_price
    if price is not None:
        body["price"] = format_decimal(price)
    expire_at = order.execution_params.expire_at
    if order.time_in_force is TimeInForce.GTD and expire_at is not None:
        body["gtdTime"] = expire_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return body


def replacement_client_id(client_order_id: str, old_broker_order_id: str) -> str:
    """The client id of the order that replaces `old_broker_order_id`: unique, and the same on a retry."""
    digest = hashlib.sha256(old_broker_order_id.encode()).hexdigest()[:10]
    return f"{root_client_order_id(client_order_id)}~r{digest}"


def root_client_order_id(client_order_id: str) -> str:
    """The client id brokerflow gave the order, before any replacement suffix."""
    match = _REPLACEMENT.match(client_order_id)
    return match["root"] if match else client_order_id


def replace_request(amendment: OrderAmendment, current: OandaOrder, filled: Decimal) -> dict[str, Any]:
    """The `order` of PUT …/orders/{id}: the same type and instrument, the new terms, what is left to fill."""
    if amendment.is_empty():
        raise OandaUnsupportedOrderError("replace: nothing to change")
    if current.type not in ("LIMIT", "STOP") or current.instrument is None:
        raise OandaUnsupportedOrderError(f"OANDA cannot replace a {current.type} order")
    if amendment.trail is not None:
        raise _refuse("trailing amounts on LIMIT and STOP orders")
    if (amendment.limit_price is not None and current.type != "LIMIT") or (
            amendment.stop_price is not None and current.type != "STOP"):
        raise OandaUnsupportedOrderError(f"a {current.type} order has no such price to change")
    units = dec(current.units)
    quantity = amendment.quantity if amendment.quantity is not None else abs(units) - filled
    if quantity != quantity.to_integral_value() or quantity <= 0:
        raise OandaUnsupportedOrderError(f"replace: {quantity} is not a whole number of units left to fill")
    price = amendment.limit_price or amendment.stop_price or dec(current.price)
    body: dict[str, Any] = {"type": current.type, "instrument": current.instrument,
                            "units": format_decimal(quantity if units > 0 else -quantity),
                            "price": format_decimal(price), "timeInForce": current.timeInForce or "GTC",
                            "positionFill": current.positionFill or "DEFAULT"}
    if current.gtdTime:
        body["gtdTime"] = current.gtdTime
    client_id = current.clientExtensions.id if current.clientExtensions else None
    if client_id:
        body["clientExtensions"] = {"id": replacement_client_id(client_id, current.id), "tag": "brokerflow"}
    return body


def side_of(units: Decimal, known: OrderSide | None = None) -> OrderSide:
    """The domain side: the one the order was placed with when known, else the units' sign."""
    if known is not None and known.is_buy == (units > 0):
        return known
    return OrderSide.BUY if units > 0 else OrderSide.SELL


def _status(order: OandaOrder, filled: Decimal, cancel_reason: str | None) -> OrderStatus:
    if order.state == "FILLED":
        return S.FILLED
    replaced = order.state == "CANCELLED" and (order.replacedByOrderID or cancel_reason == "CLIENT_REQUEST_REPLACED")
    if order.state == "CANCELLED" and not replaced:
        return S.EXPIRED if cancel_reason == "TIME_IN_FORCE_EXPIRED" else S.CANCELED
    if order.state == "TRIGGERED":
        return S.PARTIALLY_FILLED if filled > 0 else S.TRIGGERED
    return S.PARTIALLY_FILLED if filled > 0 else S.ACCEPTED


@typed_parser
def order_snapshot(order: OandaOrder, fills: list[ExecutionReport], cancel_reason: str | None = None
                   ) -> OrderSnapshot:
    """The domain's view of an OANDA order and its fills; a replaced order lives on under `replaced_by`."""
    units = abs(dec(order.units))
    filled = sum((f.quantity for f in fills), Decimal("0"))
    if order.state == "FILLED" and not fills:
        filled = units  # filled, its fill not read
    if filled > units > 0:
        raise OandaProtocolError(f"order {order.id}: fills of {filled} exceed its {units} units")
    value = sum((f.quantity * f.price for f in fills), Decimal("0"))
    client_id = order.clientExtensions.id if order.clientExtensions and order.clientExtensions.id else order.id
    price = decimal_or_none(order.price)
    if price is not None and price < 0:
        raise OandaProtocolError(f"order {order.id}: negative price {price}")
    replaced = order.state == "CANCELLED" and (order.replacedByOrderID or cancel_reason == "CLIENT_REQUEST_REPLACED")
    return OrderSnapshot(
        broker_order_id=order.id, client_order_id=root_client_order_id(client_id),
        status=_status(order, filled, cancel_reason), symbol=from_instrument(order.instrument or ""),
        quantity=units, filled_quantity=filled,
        filled_avg_price=(value / filled).normalize() if fills and filled > 0 else None,
        limit_price=price if order.type == "LIMIT" else None, stop_price=price if order.type == "STOP" else None,
        replaced_by=order.replacedByOrderID, replaces=order.replacesOrderID,
        submitted_at=ts_or_none(order.createTime),
        updated_at=ts_or_none(order.filledTime or order.cancelledTime or order.createTime),
        reason="replaced" if replaced else cancel_reason,
    )


@typed_parser
def execution_report(fill: OandaTransaction, client_order_id: str, connection_id: str | None,
                     cumulative: Decimal | None, side: OrderSide | None = None) -> ExecutionReport:
    """An ORDER_FILL as an execution, unique by account and transaction id."""
    if fill.type != "ORDER_FILL" or fill.id is None or fill.orderID is None or fill.time is None:
        raise OandaProtocolError("ORDER_FILL without id, orderID or time")
    units = dec(fill.units)
    price = decimal_or_none(fill.price) or decimal_or_none(fill.fullVWAP)
    if units == 0 or price is None or price <= 0:
        raise OandaProtocolError(f"fill {fill.id}: no units or no price")
    return ExecutionReport(
        execution_id=f"{fill.accountID or 'oanda'}:{fill.id}", client_order_id=root_client_order_id(client_order_id),
        broker_order_id=fill.orderID, connection_id=connection_id, symbol=from_instrument(fill.instrument or ""),
        side=side_of(units, side), quantity=abs(units), price=price, executed_at=parse_timestamp(fill.time),
        commission=abs(dec(fill.commission)), fees=abs(dec(fill.guaranteedExecutionFee)),
        cumulative_quantity=cumulative)


@typed_parser
def position(wire: OandaPosition) -> Position:
    """A position, netted: long units plus (negative) short units."""
    long, short = dec(wire.long.units), dec(wire.short.units)
    side = wire.long if long != 0 else wire.short
    return Position(symbol=from_instrument(wire.instrument), quantity=_checked(long + short, "units"),
                    asset_class=AssetClass.FOREX, avg_entry_price=_checked(dec(side.averagePrice), "averagePrice",
                                                                           signed=False),
                    unrealized_pnl=dec(wire.unrealizedPL))


@typed_parser
def broker_account(wire: OandaAccountSummary, positions: list[OandaPosition], connection_id: str,
                   at: datetime | None = None, marks: dict[str, Decimal] | None = None) -> BrokerAccount:
    """The account in the domain's cash terms: cash is NAV less the positions' value (a margin loan when
    negative), so equity = cash + market value = NAV; buying power is the notional the free margin opens."""
    nav, rate = dec(wire.NAV), dec(wire.marginRate)
    held = {p.symbol: p for p in map(position, positions)}
    for symbol, pos in held.items():
        mark = (marks or {}).get(symbol) or pos.avg_entry_price + (
            pos.unrealized_pnl / pos.quantity if pos.quantity else Decimal("0"))
        mark = _checked(mark, f"{symbol} mark", signed=False)
        held[symbol] = pos.model_copy(update={"last_price": mark,
                                              "market_value": _checked(pos.quantity * mark, f"{symbol} value")})
    value = sum((p.market_value for p in held.values()), Decimal("0"))
    used = dec(wire.marginUsed)
    return BrokerAccount(
        account_id=wire.id, connection_id=connection_id, account_number=wire.id, account_type=AccountType.MARGIN,
        currency=wire.currency, cash=_checked(nav - value, "cash"), settled_cash=_checked(nav - value, "cash"),
        equity=nav, buying_power=_checked(dec(wire.marginAvailable) / rate if rate > 0 else dec(wire.marginAvailable),
                                          "buying power"),
        initial_margin=used, maintenance_margin=dec(wire.marginCloseoutMarginUsed or wire.marginUsed) / 2,
        shorting_enabled=True, positions=held, updated_at=at,
    )
