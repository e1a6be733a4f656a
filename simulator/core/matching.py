"""Pure price logic: stop triggers, trailing-stop water marks and the price an order can trade at now."""

from __future__ import annotations

from decimal import Decimal

from simulator.core.instruments import Instrument, round_price
from simulator.core.model import OrderType, Side, SimOrder

__all__ = ["auction_price", "continuous_price", "trail_stop", "update_trailing"]

STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP)


def trail_stop(order: SimOrder, mark: Decimal) -> Decimal:
    """Return the stop implied by water mark `mark` and the order's trail."""
    sign = -1 if order.side is Side.SELL else 1
    if order.trail_price is not None:
        return round_price(mark + sign * order.trail_price)
    pct = (order.trail_percent or Decimal(0)) / 100
    return round_price(mark * (1 + sign * pct))


def update_trailing(order: SimOrder, last: Decimal) -> None:
    """Move the high-water mark (sell) or low-water mark (buy) and the derived stop price."""
    if order.type is not OrderType.TRAILING_STOP or order.triggered:
        return
    if order.hwm is None:
        order.hwm = last
    elif order.side is Side.SELL:
        order.hwm = max(order.hwm, last)
    else:
        order.hwm = min(order.hwm, last)
    order.stop_price = trail_stop(order, order.hwm)


def _trigger(order: SimOrder, last: Decimal) -> bool:
    if order.type not in STOP_TYPES or order.triggered:
        return True
    stop = order.stop_price
    if stop is None:
        return False
    hit = last >= stop if order.side is Side.BUY else last <= stop
    order.triggered = hit
    return hit


def _within_limit(order: SimOrder, price: Decimal) -> bool:
    if order.type not in (OrderType.LIMIT, OrderType.STOP_LIMIT) or order.limit_price is None:
        return True
    return price <= order.limit_price if order.side is Side.BUY else price >= order.limit_price


def continuous_price(order: SimOrder, inst: Instrument) -> Decimal | None:
    """Return the price `order` trades at now (buys lift the ask, sells hit the bid), or None."""
    update_trailing(order, inst.price)
    if not _trigger(order, inst.price):
        return None
    price = inst.ask if order.side is Side.BUY else inst.bid
    # A marketable limit trades at the touch, which is never worse than its limit.
    return price if _within_limit(order, price) else None


def auction_price(order: SimOrder, inst: Instrument) -> Decimal | None:
    """Return the opening/closing auction price (the last price) if `order` takes part, else None."""
    price = inst.price
    return price if _within_limit(order, price) else None
