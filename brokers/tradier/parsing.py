"""PURE translation between Tradier's wire models and the domain: enum maps both ways, reports, requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import TypeAdapter, ValidationError

from brokers import parsing_support
from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AccountType, AssetClass, OrderSide, OrderType, TimeInForce
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, TradeEventKind
from domain.broker_integration.rules.validation import decimal_in_range
from domain.broker_integration.value_objects import BrokerOrder

from .errors import TradierProtocolError, TradierUnsupportedOrderError
from .schemas import Number, TradierBalances, TradierOrder, TradierPosition, wire_decimal

__all__ = [
    "EVENT_KINDS",
    "SIDE_FROM_TRADIER",
    "SIDE_TO_TRADIER",
    "STATUS_FROM_TRADIER",
    "TAG_PATTERN",
    "TIF_TO_TRADIER",
    "TYPE_TO_TRADIER",
    "WORKING_STATUSES",
    "broker_account",
    "decimal_or_none",
    "format_decimal",
    "modify_form",
    "order_form",
    "order_snapshot",
    "order_status",
    "parse_timestamp",
    "position",
    "typed_parser",
]

SIDE_TO_TRADIER = {OrderSide.BUY: "buy", OrderSide.SELL: "sell", OrderSide.SELL_SHORT: "sell_short",
                   OrderSide.BUY_TO_COVER: "buy_to_cover"}
SIDE_FROM_TRADIER = {v: k for k, v in SIDE_TO_TRADIER.items()}
TYPE_TO_TRADIER = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP: "stop",
                   OrderType.STOP_LIMIT: "stop_limit"}
# Tradier's `pre`/`post` sessions have no neutral equivalent yet; IOC, FOK, OPG, CLS, GTD do not exist there.
TIF_TO_TRADIER = {TimeInForce.DAY: "day", TimeInForce.GTC: "gtc"}
TAG_PATTERN = re.compile(r"^[A-Za-z0-9-]{1,255}$")

S = OrderStatus
# Statuses absent here are working: ACCEPTED, or PARTIALLY_FILLED once something filled
# (open, pending, submitted, calculated, accepted_for_bidding, held).
STATUS_FROM_TRADIER = {"partially_filled": S.PARTIALLY_FILLED, "filled": S.FILLED, "canceled": S.CANCELED,
                       "expired": S.EXPIRED, "rejected": S.REJECTED, "error": S.REJECTED}
WORKING_STATUSES = frozenset({"open", "partially_filled", "pending", "submitted", "calculated",
                              "accepted_for_bidding", "held"})
K = TradeEventKind
EVENT_KINDS = {"open": K.NEW, "pending": K.PENDING_NEW, "submitted": K.PENDING_NEW, "partially_filled": K.PARTIAL_FILL,
               "filled": K.FILL, "canceled": K.CANCELED, "expired": K.EXPIRED, "rejected": K.REJECTED,
               "error": K.REJECTED}

_DATETIME = TypeAdapter(datetime)

# Any failure to read a hostile or malformed payload becomes TradierProtocolError (never a crash).
typed_parser = parsing_support.typed_parser(TradierProtocolError)


def _in_range(value: Decimal, what: str, *, signed: bool = True) -> Decimal:
    """A figure computed from wire numbers, refused when it is out of range (or negative when it may not be)."""
    if not decimal_in_range(value) or (not signed and value < 0):
        raise TradierProtocolError(f"{what} out of range: {value}")
    return value


@typed_parser
def parse_timestamp(value: str) -> datetime:
    """An ISO 8601 timestamp (`…Z` with milliseconds, or an offset) as aware UTC."""
    try:
        parsed = _DATETIME.validate_python(value)
    except ValidationError:
        raise TradierProtocolError(f"not a timestamp: {str(value)[:40]!r}") from None
    if parsed.tzinfo is None:
        raise TradierProtocolError(f"timestamp without offset: {str(value)[:40]!r}")
    return parsed.astimezone(UTC)


def ts_or_none(value: str | None) -> datetime | None:
    return None if not value else parse_timestamp(value)


def decimal_or_none(value: Number | None) -> Decimal | None:
    """A wire number as Decimal: floats through their shortest repr (150.1 is 150.1, not 150.099999...).
    NaN, infinities and numbers out of range are refused, not read as absent."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return wire_decimal(value).normalize()
    except ValueError:
        raise TradierProtocolError(f"not a number within range: {str(value)[:40]!r}") from None


def dec(value: Number | None) -> Decimal:
    return decimal_or_none(value) or Decimal("0")


def format_decimal(value: Decimal) -> str:
    """A decimal for a form field: plain notation, no trailing zeros."""
    text = f"{value.normalize():f}"
    return text if text != "-0" else "0"


def order_status(order: TradierOrder) -> OrderStatus:
    """Tradier's order status in domain terms."""
    mapped = STATUS_FROM_TRADIER.get(order.status)
    if mapped is not None:
        return mapped
    return S.PARTIALLY_FILLED if dec(order.exec_quantity) > 0 else S.ACCEPTED


def _price_of(order: TradierOrder, kinds: tuple[str, ...], value: Number | None) -> Decimal | None:
    number = decimal_or_none(value)
    return number if order.type in kinds and number else None


@typed_parser
def order_snapshot(order: TradierOrder) -> OrderSnapshot:
    """The domain's view of a Tradier order; the client order id is its tag (its id when untagged)."""
    quantity, filled = _in_range(dec(order.quantity), "quantity", signed=False), dec(order.exec_quantity)
    if filled < 0 or filled > quantity > 0:
        raise TradierProtocolError(f"order {order.id}: exec_quantity {filled} outside 0..{quantity}")
    return OrderSnapshot(
        broker_order_id=str(order.id), client_order_id=order.tag or str(order.id), status=order_status(order),
        symbol=order.symbol, quantity=quantity, filled_quantity=filled,
        filled_avg_price=decimal_or_none(order.avg_fill_price) if filled > 0 else None,
        limit_price=_price_of(order, ("limit", "stop_limit"), order.price),
        stop_price=_price_of(order, ("stop", "stop_limit"), order.stop_price),
        submitted_at=ts_or_none(order.create_date), updated_at=ts_or_none(order.transaction_date),
        reason=order.reason_description or None,
    )


def _refuse(what: str) -> TradierUnsupportedOrderError:
    return TradierUnsupportedOrderError(f"Tradier does not support {what}; the order was not sent")


def check_supported(order: BrokerOrder) -> None:
    """Refuse before sending what Tradier cannot do, with the reason."""
    if order.asset_class is not AssetClass.EQUITY:
        raise _refuse(f"{order.asset_class} orders through brokerflow (equities only)")
    check_terms(order, kind="orders", fractions="fractional quantities",
                extended="extended hours through brokerflow yet (Tradier's pre/post sessions are not mapped)")


def check_terms(order: BrokerOrder, *, kind: str, fractions: str, extended: str) -> None:
    """The terms every Tradier order shares (type, time in force, whole units, regular hours, the tag); the
    refusals name `kind` of order, `fractions` and `extended` hours as the caller's asset says them."""
    if order.order_type not in TYPE_TO_TRADIER:
        raise _refuse(f"{order.order_type} {kind}")
    if order.time_in_force not in TIF_TO_TRADIER:
        raise _refuse(f"time in force {order.time_in_force} (DAY and GTC only)")
    if order.quantity != order.quantity.to_integral_value():
        raise _refuse(fractions)
    if order.execution_params.extended_hours:
        raise _refuse(extended)
    if not TAG_PATTERN.match(order.client_order_id):
        raise _refuse(f"client order id {order.client_order_id!r} as a tag (letters, digits and '-' only)")


def order_form(order: BrokerOrder) -> dict[str, str]:
    """The form of POST /v1/accounts/{id}/orders for an equity order, the client order id as `tag`."""
    check_supported(order)
    form = {"class": "equity", "symbol": order.symbol, "side": SIDE_TO_TRADIER[order.side],
            "quantity": format_decimal(order.quantity), "type": TYPE_TO_TRADIER[order.order_type],
            "duration": TIF_TO_TRADIER[order.time_in_force], "tag": order.client_order_id}
    if order.price is not None:
        form["price"] = format_decimal(order.price)
    if order.stop_price is not None:
        form["stop"] = format_decimal(order.stop_price)
    return form


def modify_form(amendment: OrderAmendment, current: TradierOrder) -> dict[str, str]:
    """The form of PUT /v1/accounts/{id}/orders/{order_id}: prices only (the order keeps its id)."""
    if amendment.is_empty():
        raise TradierUnsupportedOrderError("modify: nothing to change")
    if amendment.quantity is not None and amendment.quantity != dec(current.quantity):
        raise TradierUnsupportedOrderError(
            "Tradier cannot change an order's quantity (cancel it and place a new one); the change was not sent")
    if amendment.trail is not None:
        raise _refuse("trailing stops")
    form: dict[str, str] = {}
    if amendment.limit_price is not None:
        if current.type not in ("limit", "stop_limit"):
            raise TradierUnsupportedOrderError(f"a {current.type} order has no limit price to change")
        form["price"] = format_decimal(amendment.limit_price)
    if amendment.stop_price is not None:
        if current.type not in ("stop", "stop_limit"):
            raise TradierUnsupportedOrderError(f"a {current.type} order has no stop price to change")
        form["stop"] = format_decimal(amendment.stop_price)
    if not form:
        raise TradierUnsupportedOrderError("modify: nothing to change")
    return form


def amendment_applied(amendment: OrderAmendment, order: TradierOrder) -> bool:
    """Whether the order already carries the amendment's prices (a modify whose answer was lost)."""
    if amendment.limit_price is not None and decimal_or_none(order.price) != amendment.limit_price.normalize():
        return False
    return amendment.stop_price is None or decimal_or_none(order.stop_price) == amendment.stop_price.normalize()


def side_of(order: TradierOrder) -> OrderSide:
    side = SIDE_FROM_TRADIER.get(order.side)
    if side is None:
        raise TradierProtocolError(f"unknown side {order.side!r}")
    return side


@typed_parser
def position(wire: TradierPosition) -> Position:
    """A position; Tradier gives cost basis, not price (market value needs a quote, left at 0)."""
    qty = dec(wire.quantity)
    avg = _in_range(abs(dec(wire.cost_basis) / qty) if qty else Decimal("0"), "average price")
    return Position(symbol=wire.symbol, quantity=qty, avg_entry_price=avg)


def _buying_power(wire: TradierBalances) -> Decimal:
    section = wire.margin or wire.pdt
    if section is not None:
        return dec(section.get("stock_buying_power"))
    return dec((wire.cash or {}).get("cash_available"))


@typed_parser
def broker_account(wire: TradierBalances, positions: list[TradierPosition], connection_id: str,
                   at: datetime | None = None) -> BrokerAccount:
    """Balances and positions; `pdt` accounts are margin accounts flagged as pattern day traders."""
    margin = wire.account_type in ("margin", "pdt")
    cash = dec(wire.total_cash)
    settled = _in_range(cash - dec((wire.cash or {}).get("unsettled_funds")) if wire.cash else cash, "settled cash")
    return BrokerAccount(
        account_id=wire.account_number, connection_id=connection_id, account_number=wire.account_number,
        account_type=AccountType.MARGIN if margin else AccountType.CASH, cash=cash, settled_cash=settled,
        equity=dec(wire.total_equity), buying_power=_buying_power(wire),
        maintenance_margin=dec(wire.current_requirement), pattern_day_trader=wire.account_type == "pdt",
        shorting_enabled=margin, positions={p.symbol: position(p) for p in positions}, updated_at=at,
    )
