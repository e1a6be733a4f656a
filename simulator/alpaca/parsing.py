"""Parse Alpaca request bodies (numbers or strings) into exchange requests, with Alpaca's 4xx answers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from simulator.alpaca.errors import AlpacaError
from simulator.core.groups import CLASSES, GroupRequest
from simulator.core.instruments import Instrument
from simulator.core.model import OrderRequest, OrderType, Side, TimeInForce

__all__ = ["ReplaceRequest", "check_fractional", "parse_decimal", "parse_group", "parse_order", "parse_replace"]

MAX_CLIENT_ID = 128
FRACTIONAL_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)


def _invalid(message: str, status: int = 422, code: int = 40010001) -> AlpacaError:
    return AlpacaError(status, code, message)


def parse_decimal(body: dict[str, Any], field: str) -> Decimal | None:
    """Read a decimal sent as a JSON string or number; reject anything else."""
    raw = body.get(field)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _invalid(f"invalid {field}")
    try:
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
    except InvalidOperation:
        raise _invalid(f"invalid {field}") from None
    if not value.is_finite():
        raise _invalid(f"invalid {field}")
    return value


def _enum(body: dict[str, Any], field: str, kind: type[Any], label: str) -> Any:
    raw = body.get(field)
    if raw is None or raw == "":
        raise _invalid(f"{field} is required")
    try:
        return kind(str(raw).lower())
    except ValueError:
        raise _invalid(f"invalid {label}: {raw}") from None


def _price(body: dict[str, Any], field: str) -> Decimal | None:
    value = parse_decimal(body, field)
    if value is None:
        return None
    if value <= 0:
        raise _invalid(f"{field} must be > 0")
    places = -value.normalize().as_tuple().exponent  # type: ignore[operator]
    if places > (2 if value >= 1 else 4):
        raise AlpacaError(422, 42210000, f"invalid {field} {raw_text(body[field])}. sub-penny increment does not "
                          "fulfill minimum pricing criteria")
    return value


def raw_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _quantity(body: dict[str, Any], field: str) -> Decimal | None:
    value = parse_decimal(body, field)
    if value is None:
        return None
    if value <= 0:
        raise _invalid(f"{field} must be > 0")
    if -value.normalize().as_tuple().exponent > 9:  # type: ignore[operator]
        raise _invalid(f"{field} must have at most 9 decimal places")
    return value


def _client_id(body: dict[str, Any]) -> str | None:
    raw = body.get("client_order_id")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise _invalid("invalid client_order_id")
    if len(raw) > MAX_CLIENT_ID:
        raise _invalid(f"client_order_id must be no more than {MAX_CLIENT_ID} characters")
    return raw


def parse_order(body: Any) -> OrderRequest:
    """Validate a POST /v2/orders body the way Alpaca does before any account check."""
    if not isinstance(body, dict):
        raise _invalid("request body format is invalid", 400, 40010000)
    if body.get("order_class") not in (None, "", "simple", *CLASSES):
        raise _invalid(f"order_class {body['order_class']} is not supported by this simulator")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise _invalid("symbol is required")
    side = _enum(body, "side", Side, "side")
    kind = _enum(body, "type", OrderType, "order type")
    tif = _enum(body, "time_in_force", TimeInForce, "time_in_force")
    qty, notional = _quantity(body, "qty"), _quantity(body, "notional")
    if qty is not None and notional is not None:
        raise _invalid("only one of qty or notional may be specified", 400)
    if qty is None and notional is None:
        raise _invalid("qty or notional is required")
    request = OrderRequest(
        symbol=symbol, side=side, type=kind, time_in_force=tif, qty=qty, notional=notional,
        limit_price=_price(body, "limit_price"), stop_price=_price(body, "stop_price"),
        trail_price=_quantity(body, "trail_price"), trail_percent=_quantity(body, "trail_percent"),
        extended_hours=bool(body.get("extended_hours") or False), client_order_id=_client_id(body),
    )
    _check_type_fields(request)
    return request


def _check_type_fields(req: OrderRequest) -> None:
    if req.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and req.limit_price is None:
        raise _invalid("limit_price is required")
    if req.type in (OrderType.STOP, OrderType.STOP_LIMIT) and req.stop_price is None:
        raise _invalid("stop_price is required")
    if req.type is OrderType.TRAILING_STOP:
        if (req.trail_price is None) == (req.trail_percent is None):
            raise _invalid("exactly one of trail_price or trail_percent is required")
        if req.time_in_force not in (TimeInForce.DAY, TimeInForce.GTC):
            raise _invalid("trailing stop orders must be day or gtc")
    if req.time_in_force in (TimeInForce.OPG, TimeInForce.CLS) and req.type not in (OrderType.MARKET,
                                                                                   OrderType.LIMIT):
        raise _invalid(f"{req.time_in_force.value} orders must be market or limit orders")
    if req.extended_hours and (req.type is not OrderType.LIMIT or req.time_in_force is not TimeInForce.DAY):
        raise AlpacaError(422, 42210000, "extended hours order must be DAY limit orders")
    if req.notional is not None and (req.type not in (OrderType.MARKET, OrderType.LIMIT)
                                     or req.time_in_force is not TimeInForce.DAY):
        raise _invalid("notional orders must be day market or limit orders")


def check_fractional(req: OrderRequest, inst: Instrument) -> None:
    """Fractional and notional orders: fractionable assets, DAY orders of the basic types only."""
    fractional = req.notional is not None or (req.qty is not None and req.qty != req.qty.to_integral_value())
    if not fractional:
        return
    if not inst.spec.fractionable:
        raise _invalid("requested asset is not fractionable")
    if req.time_in_force is not TimeInForce.DAY or req.type not in FRACTIONAL_TYPES:
        raise _invalid("fractional orders must be DAY orders")


class ReplaceRequest(dict[str, Any]):
    """Keyword arguments for Exchange.replace."""


def parse_replace(body: Any) -> ReplaceRequest:
    """Validate a PATCH /v2/orders/{id} body: qty (whole shares), time_in_force, prices, trail, client id."""
    if not isinstance(body, dict):
        raise _invalid("request body format is invalid", 400, 40010000)
    qty = _quantity(body, "qty")
    if qty is not None and qty != qty.to_integral_value():
        raise _invalid("qty must be a whole number of shares")
    tif = _enum(body, "time_in_force", TimeInForce, "time_in_force") if body.get("time_in_force") else None
    return ReplaceRequest(
        qty=qty, time_in_force=tif, limit_price=_price(body, "limit_price"), stop_price=_price(body, "stop_price"),
        trail=_quantity(body, "trail"), client_order_id=_client_id(body),
    )


def _leg_prices(body: dict[str, Any], field: str, *names: str) -> tuple[Decimal | None, ...]:
    raw = body.get(field)
    if raw is None:
        return tuple(None for _ in names)
    if not isinstance(raw, dict):
        raise _invalid(f"invalid {field}")
    return tuple(_price(raw, name) for name in names)


def parse_group(body: dict[str, Any], parent: OrderRequest) -> GroupRequest | None:
    """The bracket/OCO/OTO part of a POST /v2/orders body (None for a simple order), checked as Alpaca does."""
    order_class = body.get("order_class")
    if order_class not in CLASSES:
        return None
    (take_profit,) = _leg_prices(body, "take_profit", "limit_price")
    stop_loss, stop_limit = _leg_prices(body, "stop_loss", "stop_price", "limit_price")
    if order_class in ("bracket", "oco") and (take_profit is None or stop_loss is None):
        raise _invalid(f"{order_class} orders require take_profit.limit_price and stop_loss.stop_price")
    if order_class == "oto" and (take_profit is None) == (stop_loss is None):
        raise _invalid("oto orders require exactly one of take_profit or stop_loss")
    if body.get("stop_loss") is not None and stop_loss is None:
        raise _invalid("stop_loss.stop_price is required")
    if parent.time_in_force.value not in ("day", "gtc") or parent.extended_hours:
        raise _invalid(f"{order_class} orders must be day or gtc, without extended hours")
    if order_class == "oco":
        if parent.type is not OrderType.LIMIT:
            raise _invalid("oco orders must be limit orders")
        parent = replace(parent, limit_price=take_profit)
    selling_exits = parent.side is Side.SELL if order_class == "oco" else parent.side is Side.BUY
    if take_profit is not None and stop_loss is not None and (take_profit > stop_loss) != selling_exits:
        relation = ">" if selling_exits else "<"
        raise AlpacaError(422, 42210000, f"take_profit.limit_price must be {relation} stop_loss.stop_price")
    return GroupRequest(parent=parent, order_class=order_class, take_profit=take_profit, stop_loss=stop_loss,
                        stop_limit=stop_limit)
