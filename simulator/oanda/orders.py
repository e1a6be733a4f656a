"""OANDA order requests: validation into the core's terms, reject transactions, and the Order object.

MARKET, LIMIT and STOP orders with signed `units`; MARKET takes FOK or IOC only. GTD orders carry a
`gtdTime` and are cancelled (TIME_IN_FORCE_EXPIRED) once the simulated clock passes it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

from simulator.core import OrderRequest, OrderType, Side, TimeInForce
from simulator.core.instruments import Instrument
from simulator.oanda.ledger import OandaLedger, OandaOrder
from simulator.oanda.wire import price, ts, units

__all__ = ["RequestRefused", "core_request", "order_view", "parse_order"]

TYPES = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT, "STOP": OrderType.STOP}
TIFS = {"GTC": TimeInForce.GTC, "GTD": TimeInForce.GTC, "GFD": TimeInForce.DAY, "FOK": TimeInForce.FOK,
        "IOC": TimeInForce.IOC}
POSITION_FILLS = frozenset({"DEFAULT", "OPEN_ONLY", "REDUCE_FIRST", "REDUCE_ONLY"})
_EXTENSION_KEYS = frozenset({"id", "tag", "comment"})
_DATETIME = TypeAdapter(datetime)


class RequestRefused(Exception):
    """An order request OANDA rejects: the reject reason and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _decimal(raw: Any, reason: str, what: str) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise RequestRefused(reason, f"Invalid value specified for '{what}'")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise RequestRefused(reason, f"Invalid value specified for '{what}'") from None
    if not value.is_finite():
        raise RequestRefused(reason, f"Invalid value specified for '{what}'")
    return value


def _extensions(raw: Any, what: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - _EXTENSION_KEYS or not all(isinstance(v, str) for v in raw.values()):
        raise RequestRefused("CLIENT_EXTENSIONS_DATA_INVALID" if what == "order" else
                             "TRADE_ON_FILL_CLIENT_EXTENSIONS_DATA_INVALID", "Invalid client extensions")
    if len(raw.get("id", "")) > 128 or len(raw.get("comment", "")) > 128:
        raise RequestRefused("CLIENT_EXTENSIONS_DATA_INVALID", "Client extension id and comment are 128 characters")
    return dict(raw)


def _price(spec: dict[str, Any], inst: Instrument) -> Decimal:
    if spec.get("price") is None:
        raise RequestRefused("PRICE_MISSING", "Price is required for this order type")
    value = _decimal(spec["price"], "PRICE_INVALID", "price")
    if value <= 0:
        raise RequestRefused("PRICE_INVALID", "Price must be positive")
    tick = inst.spec.tick or Decimal("0.00001")
    if value % tick != 0:
        raise RequestRefused("PRICE_PRECISION_EXCEEDED", f"Price precision exceeds {tick} for {inst.symbol}")
    return value


def _time_in_force(spec: dict[str, Any], kind: str) -> tuple[str, str | None]:
    tif = str(spec.get("timeInForce") or ("FOK" if kind == "MARKET" else "GTC")).upper()
    if tif not in TIFS or (kind == "MARKET" and tif not in ("FOK", "IOC")):
        raise RequestRefused("TIME_IN_FORCE_INVALID", f"Time in force {tif} is not valid for a {kind} order")
    gtd = spec.get("gtdTime")
    if tif == "GTD":
        if not gtd:
            raise RequestRefused("TIME_IN_FORCE_GTD_TIMESTAMP_MISSING", "A GTD order needs a gtdTime")
        try:
            when = _DATETIME.validate_python(gtd)
        except ValidationError:
            raise RequestRefused("TIME_IN_FORCE_GTD_TIMESTAMP_INVALID", "gtdTime is not a valid time") from None
        if when.tzinfo is None:
            raise RequestRefused("TIME_IN_FORCE_GTD_TIMESTAMP_INVALID", "gtdTime needs a timezone")
        gtd = ts(when)
    elif gtd is not None:
        raise RequestRefused("TIME_IN_FORCE_GTD_TIMESTAMP_INVALID", "gtdTime is only valid with GTD")
    return tif, gtd


def parse_order(spec: Any, account_id: str, ledger: OandaLedger, *, replacing: bool = False) -> OandaOrder:
    """Validate an OrderRequest; the order is not numbered yet (its create transaction numbers it)."""
    if not isinstance(spec, dict):
        raise RequestRefused("INVALID_ORDER", "The request body needs an 'order'")
    kind = str(spec.get("type") or "").upper()
    if kind not in TYPES:
        raise RequestRefused("ORDER_TYPE_INVALID" if kind else "ORDER_TYPE_MISSING", f"Unsupported order type {kind!r}")
    symbol = str(spec.get("instrument") or "")
    inst = ledger.exchange.state.instruments.get(symbol)
    if not symbol or inst is None or inst.spec.asset_class != "forex":
        raise RequestRefused("INSTRUMENT_MISSING" if not symbol else "INSTRUMENT_UNKNOWN",
                             f"Unknown instrument {symbol!r}")
    if spec.get("units") is None:
        raise RequestRefused("UNITS_MISSING", "Units are required")
    signed = _decimal(spec["units"], "UNITS_INVALID", "units")
    if signed == 0:
        raise RequestRefused("UNITS_INVALID", "Units must not be zero")
    if signed != signed.to_integral_value():
        raise RequestRefused("UNITS_PRECISION_EXCEEDED", f"Units precision exceeded for {symbol} (whole units)")
    tif, gtd = _time_in_force(spec, kind)
    position_fill = str(spec.get("positionFill") or "DEFAULT").upper()
    if position_fill not in POSITION_FILLS:
        raise RequestRefused("POSITION_FILL_INVALID", f"Invalid positionFill {position_fill}")
    extensions = _extensions(spec.get("clientExtensions"), "order")
    if extensions and extensions.get("id") and not replacing and ledger.client_id_taken(account_id, extensions["id"]):
        raise RequestRefused("CLIENT_ORDER_ID_ALREADY_EXISTS", "The client order ID specified is already assigned")
    return OandaOrder(
        id="", account_id=account_id, type=kind, instrument=symbol, units=signed, time_in_force=tif,
        create_time=ledger.exchange.state.now(), price=_price(spec, inst) if kind != "MARKET" else None,
        gtd_time=gtd, position_fill=position_fill, client_extensions=extensions,
        trade_client_extensions=_extensions(spec.get("tradeClientExtensions"), "trade"))


def request_echo(order: OandaOrder, inst: Instrument) -> dict[str, Any]:
    """The request's fields as create and reject transactions repeat them."""
    body: dict[str, Any] = {"instrument": order.instrument, "units": units(order.units),
                            "timeInForce": order.time_in_force, "positionFill": order.position_fill}
    if order.price is not None:
        body["price"] = price(order.price, inst.spec.tick)
        body["triggerCondition"] = "DEFAULT"
    if order.gtd_time:
        body["gtdTime"] = order.gtd_time
    if order.client_extensions:
        body["clientExtensions"] = order.client_extensions
    if order.trade_client_extensions:
        body["tradeClientExtensions"] = order.trade_client_extensions
    return body


def core_request(order: OandaOrder, client_id: str) -> OrderRequest:
    """The order in the exchange core's terms (side from the sign of the units)."""
    side = Side.BUY if order.units > 0 else Side.SELL
    kind = TYPES[order.type]
    return OrderRequest(order.instrument, side, kind, TIFS[order.time_in_force], qty=abs(order.units),
                        limit_price=order.price if kind is OrderType.LIMIT else None,
                        stop_price=order.price if kind is OrderType.STOP else None, client_order_id=client_id)


def order_view(order: OandaOrder, inst: Instrument) -> dict[str, Any]:
    """The Order object of GET …/orders[/{orderSpecifier}]."""
    view: dict[str, Any] = {"id": order.id, "createTime": ts(order.create_time), "state": order.state,
                            "type": order.type, **request_echo(order, inst)}
    if order.replaces_order_id:
        view["replacesOrderID"] = order.replaces_order_id
    if order.filling_transaction_id:
        view["fillingTransactionID"] = order.filling_transaction_id
        view["filledTime"] = ts(order.filled_time)
        if order.trade_opened_id:
            view["tradeOpenedID"] = order.trade_opened_id
    if order.cancelling_transaction_id:
        view["cancellingTransactionID"] = order.cancelling_transaction_id
        view["cancelledTime"] = ts(order.cancelled_time)
    if order.replaced_by_order_id:
        view["replacedByOrderID"] = order.replaced_by_order_id
    return view
