"""Order validation: every field combination per order type and time in force, all problems at once."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..base import to_decimal, upper_enum
from ..enums import AssetClass, OrderType, TimeInForce
from ..errors import Problem
from .assets import precision_for, precision_problems

if TYPE_CHECKING:
    from ..value_objects import BrokerCapabilities, BrokerOrder

__all__ = [
    "capability_problems",
    "decimal_in_range",
    "decimal_places",
    "execution_params_problems",
    "order_shape_problems",
    "positive_decimal_problem",
    "tick_size_for",
]

_PRICE_FIELDS = ("price", "stop_price", "trail_price", "trail_percent")
_NEEDS = {
    OrderType.MARKET: ((), ("price", "stop_price", "trail_price", "trail_percent")),
    OrderType.LIMIT: (("price",), ("stop_price", "trail_price", "trail_percent")),
    OrderType.STOP: (("stop_price",), ("price", "trail_price", "trail_percent")),
    OrderType.STOP_LIMIT: (("price", "stop_price"), ("trail_price", "trail_percent")),
    OrderType.TRAILING_STOP: ((), ("price", "stop_price")),
}
_AUCTION_TIFS = (TimeInForce.OPG, TimeInForce.CLS)


_MAX_DECIMAL = Decimal(10) ** 15
_MAX_SCALE = 18


def decimal_places(number: Decimal) -> int:
    """Decimal places without trailing zeros (normalize() would round to the context's 28 digits)."""
    _, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        return 0
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + zeros))


def decimal_in_range(number: Decimal, *, max_scale: int | None = None) -> bool:
    """Whether `number` is finite, below 10^15 in size and (given `max_scale`) has at most that many places.

    Read from the exponent, never by arithmetic: abs() of 1e9999999999 raises decimal.Overflow (and of
    1e-9999999999 Underflow, when trapped), so a hostile number is refused instead of crashing the caller.
    Zero is in range whatever its exponent.
    """
    if not number.is_finite():
        return False
    if number.is_zero():
        return True
    return number.adjusted() < _MAX_DECIMAL.adjusted() and (max_scale is None or decimal_places(number) <= max_scale)


def positive_decimal_problem(field: str, value: Any) -> Problem | None:
    """A problem if `value` is not a positive, finite decimal number."""
    number = to_decimal(value)
    if not isinstance(number, Decimal):
        return Problem(field, f"must be a decimal number, got {value!r}")
    if not number.is_finite():
        return Problem(field, f"must be finite, got {value!r}")
    if number <= 0:
        return Problem(field, f"must be greater than 0, got {value!r}")
    # Beyond these no real order lies, and PostgreSQL's numeric could not store it: refuse, do not crash later.
    if not decimal_in_range(number, max_scale=_MAX_SCALE):
        return Problem(field, f"must be below 10^15 with at most {_MAX_SCALE} decimal places")
    return None


def _present(data: Mapping[str, Any], field: str) -> bool:
    return data.get(field) is not None


def _enum_or_none(enum: type[OrderType] | type[TimeInForce], value: Any) -> Any:
    try:
        return enum(upper_enum(value))
    except ValueError:
        return None


def _params_field(data: Mapping[str, Any], name: str) -> Any:
    params = data.get("execution_params")
    if params is None:
        return None
    if isinstance(params, Mapping):
        return params.get(name)
    return getattr(params, name, None)


def order_shape_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Check quantity, prices and the fields each order type and time in force needs."""
    problems: list[Problem] = []
    if data.get("quantity") is None:
        problems.append(Problem("quantity", "is required"))
    elif (p := positive_decimal_problem("quantity", data["quantity"])) is not None:
        problems.append(p)
    for field in _PRICE_FIELDS:
        if _present(data, field) and (p := positive_decimal_problem(field, data[field])) is not None:
            problems.append(p)
    trail_pct = to_decimal(data.get("trail_percent"))
    if isinstance(trail_pct, Decimal) and trail_pct.is_finite() and trail_pct >= 100:
        problems.append(Problem("trail_percent", "must be below 100"))
    order_type = _enum_or_none(OrderType, data.get("order_type"))
    if order_type is not None:
        problems.extend(_type_problems(order_type, data))
    tif = _enum_or_none(TimeInForce, _params_field(data, "time_in_force") or "DAY")
    if tif in _AUCTION_TIFS and order_type not in (None, OrderType.MARKET, OrderType.LIMIT):
        problems.append(Problem("execution_params.time_in_force", f"{tif} needs a MARKET or LIMIT order"))
    if _params_field(data, "extended_hours") and (
        order_type not in (None, OrderType.LIMIT) or tif not in (None, TimeInForce.DAY, TimeInForce.GTC)
    ):
        problems.append(Problem("execution_params.extended_hours", "needs a LIMIT order with DAY or GTC"))
    return problems


def _type_problems(order_type: OrderType, data: Mapping[str, Any]) -> list[Problem]:
    required, forbidden = _NEEDS[order_type]
    problems = [
        Problem(field, f"is required for a {order_type} order")
        for field in required
        if not _present(data, field)
    ]
    problems += [
        Problem(field, f"is not allowed on a {order_type} order")
        for field in forbidden
        if _present(data, field)
    ]
    if order_type is OrderType.TRAILING_STOP:
        given = [f for f in ("trail_price", "trail_percent") if _present(data, f)]
        if len(given) != 1:
            problems.append(
                Problem(
                    "trail_price", "a TRAILING_STOP order needs exactly one of trail_price, trail_percent"
                )
            )
    return problems


def execution_params_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Check that GTD has an expiry (timezone-aware) and only GTD has one."""
    problems: list[Problem] = []
    tif = _enum_or_none(TimeInForce, data.get("time_in_force") or "DAY")
    expire_at = data.get("expire_at")
    if tif is TimeInForce.GTD and expire_at is None:
        problems.append(Problem("expire_at", "is required when time_in_force is GTD"))
    if tif is not None and tif is not TimeInForce.GTD and expire_at is not None:
        problems.append(Problem("expire_at", f"is only allowed with GTD, not {tif}"))
    return problems


def tick_size_for(price: Decimal, capabilities: BrokerCapabilities) -> Decimal:
    """The minimum price increment for a price: sub-penny below the threshold (SEC Rule 612)."""
    if price < capabilities.sub_penny_threshold:
        return capabilities.sub_penny_tick
    return capabilities.tick_size


def capability_problems(order: BrokerOrder, capabilities: BrokerCapabilities) -> list[Problem]:
    """Check an order against what the broker supports, and prices against its tick sizes."""
    problems: list[Problem] = []
    params = order.execution_params
    if order.order_type not in capabilities.order_types:
        problems.append(Problem("order_type", f"{capabilities.broker} does not support {order.order_type}"))
    if params.time_in_force not in capabilities.time_in_force:
        problems.append(
            Problem(
                "execution_params.time_in_force",
                f"{capabilities.broker} does not support {params.time_in_force}",
            )
        )
    if order.asset_class not in capabilities.asset_classes:
        problems.append(Problem("asset_class", f"{capabilities.broker} does not trade {order.asset_class}"))
    if (order.asset_class is AssetClass.EQUITY and order.quantity != order.quantity.to_integral_value()
            and not capabilities.supports_fractional):
        problems.append(Problem("quantity", f"{capabilities.broker} does not accept fractional quantities"))
    if params.extended_hours and not capabilities.supports_extended_hours:
        problems.append(
            Problem("execution_params.extended_hours", f"{capabilities.broker} has no extended hours")
        )
    if order.trail_percent is not None and not capabilities.supports_trail_percent:
        problems.append(Problem("trail_percent", f"{capabilities.broker} does not support trail percent"))
    prices: dict[str, Decimal | None] = {f: getattr(order, f) for f in ("price", "stop_price", "trail_price")}
    problems += precision_problems(order.asset_class, order.symbol, order.quantity, prices)
    if precision_for(order.asset_class, order.symbol).price_tick is not None:
        return problems  # the asset class's own tick, checked above
    for field, value in prices.items():
        if value is not None and value % tick_size_for(value, capabilities) != 0:
            tick = tick_size_for(value, capabilities)
            problems.append(Problem(field, f"{value} is not a multiple of the tick size {tick}"))
    return problems
