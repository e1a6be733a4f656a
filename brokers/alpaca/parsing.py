"""PURE translation between Alpaca's wire models and the domain: enum maps both ways, reports, requests."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import TypeAdapter, ValidationError

from brokers import parsing_support
from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AccountType, OrderSide, OrderType, TimeInForce
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, TradeEvent, TradeEventKind
from domain.broker_integration.rules.validation import decimal_in_range
from domain.broker_integration.value_objects import BrokerOrder, ExecutionReport

from .errors import AlpacaProtocolError, AlpacaUnsupportedOrderError
from .schemas import (
    AlpacaAccount,
    AlpacaFillActivity,
    AlpacaOrder,
    AlpacaOrderRequest,
    AlpacaPosition,
    AlpacaReplaceRequest,
    AlpacaTradeUpdate,
)

__all__ = [
    "EVENT_KINDS",
    "SIDE_FROM_ALPACA",
    "SIDE_TO_ALPACA",
    "STATUS_FROM_ALPACA",
    "TIF_FROM_ALPACA",
    "TIF_TO_ALPACA",
    "TYPE_FROM_ALPACA",
    "TYPE_TO_ALPACA",
    "broker_account",
    "decimal_or_none",
    "execution_from_activity",
    "execution_id_from_activity",
    "format_decimal",
    "order_request",
    "order_snapshot",
    "order_status",
    "parse_timestamp",
    "position",
    "replace_request",
    "replacement_client_order_id",
    "root_client_order_id",
    "trade_event",
    "typed_parser",
]

SIDE_TO_ALPACA = {OrderSide.BUY: "buy", OrderSide.SELL: "sell", OrderSide.SELL_SHORT: "sell",
                  OrderSide.BUY_TO_COVER: "buy"}
SIDE_FROM_ALPACA = {"buy": OrderSide.BUY, "sell": OrderSide.SELL}
TYPE_TO_ALPACA = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop",
                  OrderType.STOP_LIMIT: "stop_limit", OrderType.TRAILING_STOP: "trailing_stop"}
TYPE_FROM_ALPACA = {v: k for k, v in TYPE_TO_ALPACA.items()}
# GTD is absent on purpose: Alpaca has no good-till-date.
TIF_TO_ALPACA = {TimeInForce.DAY: "day", TimeInForce.GTC: "gtc", TimeInForce.IOC: "ioc",
                 TimeInForce.FOK: "fok", TimeInForce.OPG: "opg", TimeInForce.CLS: "cls"}
TIF_FROM_ALPACA = {v: k for k, v in TIF_TO_ALPACA.items()}

S = OrderStatus
# Statuses absent here are "working": ACCEPTED, or PARTIALLY_FILLED once something filled
# (new, accepted, pending_new, accepted_for_bidding, done_for_day, stopped, suspended, calculated,
# held, pending_review, and replaced: the order lives on under `replaced_by`).
STATUS_FROM_ALPACA = {"partially_filled": S.PARTIALLY_FILLED, "filled": S.FILLED, "canceled": S.CANCELED,
                      "expired": S.EXPIRED, "rejected": S.REJECTED, "pending_cancel": S.PENDING_CANCEL,
                      "pending_replace": S.PENDING_UPDATE}

K = TradeEventKind
EVENT_KINDS = {"new": K.NEW, "accepted": K.ACCEPTED, "pending_new": K.PENDING_NEW,
               "partial_fill": K.PARTIAL_FILL, "fill": K.FILL, "canceled": K.CANCELED, "expired": K.EXPIRED,
               "done_for_day": K.DONE_FOR_DAY, "replaced": K.REPLACED, "rejected": K.REJECTED,
               "pending_cancel": K.PENDING_CANCEL, "pending_replace": K.PENDING_REPLACE,
               "order_cancel_rejected": K.CANCEL_REJECTED, "order_replace_rejected": K.REPLACE_REJECTED}

_DATETIME = TypeAdapter(datetime)
_REPLACEMENT = re.compile(r"^(?P<root>.+)~r[0-9a-f]{10}$")
# Places of a number we accept from the broker (its magnitude bound is the domain's): beyond them it is garbage.
_MAX_SCALE = 28  # Alpaca averages carry many places (seen: 25); Decimal keeps 28 digits

# Any failure to read a hostile or malformed payload becomes AlpacaProtocolError (never a crash).
typed_parser = parsing_support.typed_parser(AlpacaProtocolError)


def _non_negative(value: Decimal | None, what: str) -> Decimal | None:
    if value is not None and value < 0:
        raise AlpacaProtocolError(f"negative {what}: {value}")
    return value


@typed_parser
def parse_timestamp(value: str) -> datetime:
    """An RFC 3339 timestamp (nanoseconds, Z or offset) as aware UTC."""
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        raise AlpacaProtocolError(f"not a timestamp: {str(value)[:40]!r}") from None
    if parsed.tzinfo is None:
        raise AlpacaProtocolError(f"timestamp without offset: {value!r}")
    return parsed.astimezone(UTC)


def _ts(value: str | None) -> datetime | None:
    return None if not value else parse_timestamp(value)


def decimal_or_none(value: str | float | int | None) -> Decimal | None:
    """A wire decimal (string, or number from market data) as Decimal."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise AlpacaProtocolError(f"not a decimal: {value!r}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise AlpacaProtocolError(f"not a decimal: {str(value)[:40]!r}") from None
    if not decimal_in_range(number, max_scale=_MAX_SCALE):
        raise AlpacaProtocolError(f"decimal out of range: {str(value)[:40]!r}")
    return Decimal(0) if number.is_zero() else number  # 0E-50 is zero, not a number with 50 places


def format_decimal(value: Decimal) -> str:
    """A decimal as Alpaca echoes it: plain notation, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


def replacement_client_order_id(client_order_id: str, old_broker_order_id: str) -> str:
    """The client id of the order that replaces `old_broker_order_id`: unique, and the same on a retry."""
    root = root_client_order_id(client_order_id)
    digest = hashlib.sha256(old_broker_order_id.encode()).hexdigest()[:10]
    return f"{root}~r{digest}"


def root_client_order_id(client_order_id: str) -> str:
    """The client id brokerflow gave the order, before any replacement suffix."""
    match = _REPLACEMENT.match(client_order_id)
    return match["root"] if match else client_order_id


@typed_parser
def order_status(order: AlpacaOrder) -> OrderStatus:
    """Alpaca's order status in domain terms."""
    mapped = STATUS_FROM_ALPACA.get(order.status)
    if mapped is not None:
        return mapped
    filled = decimal_or_none(order.filled_qty) or Decimal("0")
    return S.PARTIALLY_FILLED if filled > 0 else S.ACCEPTED


@typed_parser
def order_snapshot(order: AlpacaOrder) -> OrderSnapshot:
    """The domain's view of an Alpaca order (client id without replacement suffix)."""
    reason = "replaced" if order.status == "replaced" else None
    quantity, filled = decimal_or_none(order.qty), decimal_or_none(order.filled_qty)
    if quantity is not None and filled is not None and filled > quantity > 0:
        raise AlpacaProtocolError(f"order {order.id}: filled_qty {filled} exceeds qty {quantity}")
    return OrderSnapshot(
        broker_order_id=order.id,
        client_order_id=root_client_order_id(order.client_order_id),
        status=order_status(order),
        symbol=order.symbol,
        quantity=_non_negative(quantity, "qty") or Decimal("0"),
        filled_quantity=_non_negative(filled, "filled_qty") or Decimal("0"),
        filled_avg_price=_non_negative(decimal_or_none(order.filled_avg_price), "filled_avg_price"),
        limit_price=_non_negative(decimal_or_none(order.limit_price), "limit_price"),
        stop_price=_non_negative(decimal_or_none(order.stop_price), "stop_price"),
        replaced_by=order.replaced_by,
        replaces=order.replaces,
        submitted_at=_ts(order.submitted_at) or _ts(order.created_at),
        updated_at=_ts(order.updated_at),
        reason=reason,
    )


def _side(wire: str | None, override: OrderSide | None) -> OrderSide:
    side = SIDE_FROM_ALPACA.get(wire or "")
    if side is None:
        raise AlpacaProtocolError(f"unknown side {wire!r}")
    # Alpaca has no short/cover sides; the caller may know which one the order was.
    return override if override is not None and override.is_buy == side.is_buy else side


def _event_execution(update: AlpacaTradeUpdate, at: datetime, connection_id: str | None,
                     side: OrderSide | None) -> ExecutionReport | None:
    qty = _non_negative(decimal_or_none(update.qty), "fill qty")
    price = _non_negative(decimal_or_none(update.price), "fill price")
    if update.event not in ("fill", "partial_fill") or not update.execution_id or not qty or not price:
        return None
    order = update.order
    return ExecutionReport(
        execution_id=update.execution_id, client_order_id=root_client_order_id(order.client_order_id),
        broker_order_id=order.id, connection_id=connection_id, symbol=order.symbol,
        side=_side(order.side, side), quantity=qty, price=price, executed_at=at,
        cumulative_quantity=decimal_or_none(order.filled_qty),
    )


@typed_parser
def trade_event(update: AlpacaTradeUpdate, connection_id: str | None = None,
                side: OrderSide | None = None) -> TradeEvent:
    """One trade_updates event in domain terms."""
    when = update.timestamp or update.at or update.order.updated_at or update.order.created_at
    at = parse_timestamp(when)
    sequence = update.event_id or (update.execution_id if update.event in ("fill", "partial_fill") else None)
    return TradeEvent(
        kind=EVENT_KINDS.get(update.event, K.OTHER),
        order=order_snapshot(update.order),
        occurred_at=at,
        execution=_event_execution(update, at, connection_id, side),
        position_quantity=decimal_or_none(update.position_qty),
        sequence=sequence or f"{update.order.id}:{update.event}:{when}",
    )


def execution_id_from_activity(activity_id: str) -> str:
    """The execution id inside a FILL activity id `<yyyymmddhhmmssmmm>::<uuid>`."""
    _, sep, tail = activity_id.partition("::")
    return tail if sep and tail else activity_id


@typed_parser
def execution_from_activity(activity: AlpacaFillActivity, client_order_id: str,
                            connection_id: str | None = None, side: OrderSide | None = None) -> ExecutionReport:
    """A FILL activity as an execution report of the order `client_order_id`."""
    return ExecutionReport(
        execution_id=execution_id_from_activity(activity.id),
        client_order_id=root_client_order_id(client_order_id),
        broker_order_id=activity.order_id, connection_id=connection_id, symbol=activity.symbol,
        side=_side(activity.side, side), quantity=decimal_or_none(activity.qty),
        price=decimal_or_none(activity.price), executed_at=parse_timestamp(activity.transaction_time),
        cumulative_quantity=decimal_or_none(activity.cum_qty),
    )


def _price(value: Decimal | None) -> str | None:
    return None if value is None else format_decimal(value)


def order_request(order: BrokerOrder) -> AlpacaOrderRequest:
    """The POST /v2/orders body for a domain order (simple order class, client order id included)."""
    tif = TIF_TO_ALPACA.get(order.time_in_force)
    if tif is None:
        raise AlpacaUnsupportedOrderError(f"Alpaca does not support time in force {order.time_in_force}")
    return AlpacaOrderRequest(
        symbol=order.symbol, qty=format_decimal(order.quantity), side=SIDE_TO_ALPACA[order.side],
        type=TYPE_TO_ALPACA[order.order_type], time_in_force=tif, client_order_id=order.client_order_id,
        limit_price=_price(order.price), stop_price=_price(order.stop_price),
        trail_price=_price(order.trail_price), trail_percent=_price(order.trail_percent),
        extended_hours=order.execution_params.extended_hours,
    )


def replace_request(amendment: OrderAmendment, old: AlpacaOrder) -> AlpacaReplaceRequest:
    """The PATCH body; `quantity` is the order's total, so Alpaca gets what is left after fills."""
    filled = decimal_or_none(old.filled_qty) or Decimal("0")
    qty: Decimal | None = None
    if amendment.quantity is not None:
        qty = amendment.quantity - filled
    elif filled > 0 and old.qty is not None:
        # Unsent qty is copied from the old order *including* its fills (Alpaca-API #165): send the rest.
        qty = Decimal(old.qty) - filled
    if qty is not None and qty <= 0:
        raise AlpacaUnsupportedOrderError(f"new quantity leaves nothing to fill (filled {filled})")
    return AlpacaReplaceRequest(
        qty=_price(qty), limit_price=_price(amendment.limit_price), stop_price=_price(amendment.stop_price),
        trail=_price(amendment.trail),
        client_order_id=replacement_client_order_id(old.client_order_id, old.id),
    )


def _dec(value: str | None) -> Decimal:
    return decimal_or_none(value) or Decimal("0")


@typed_parser
def position(wire: AlpacaPosition) -> Position:
    """A position (quantity negative when short)."""
    return Position(symbol=wire.symbol, quantity=_dec(wire.qty), avg_entry_price=_dec(wire.avg_entry_price),
                    market_value=_dec(wire.market_value))


@typed_parser
def broker_account(wire: AlpacaAccount, positions: list[AlpacaPosition], connection_id: str,
                   at: datetime | None = None) -> BrokerAccount:
    """The account with its positions; multiplier 1 is a cash account, 2 or 4 a margin account."""
    margin = _dec(wire.multiplier) > 1
    return BrokerAccount(
        account_id=wire.id, connection_id=connection_id, account_number=wire.account_number,
        account_type=AccountType.MARGIN if margin else AccountType.CASH, currency=wire.currency,
        cash=_dec(wire.cash), settled_cash=_dec(wire.cash), equity=_dec(wire.equity),
        buying_power=_dec(wire.buying_power), initial_margin=_dec(wire.initial_margin),
        maintenance_margin=_dec(wire.maintenance_margin), pattern_day_trader=bool(wire.pattern_day_trader),
        last_equity=_dec(wire.last_equity), last_maintenance_margin=_dec(wire.last_maintenance_margin),
        day_trade_count=wire.daytrade_count or 0, shorting_enabled=wire.shorting_enabled and margin,
        positions={p.symbol: position(p) for p in positions}, updated_at=at,
    )
