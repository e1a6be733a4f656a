"""Pre-trade checks: buying power by account type, sellable quantity, shorting and PDT protection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from simulator.core.accounts import PDT_MIN_EQUITY, Account, AccountType
from simulator.core.instruments import Instrument
from simulator.core.model import OrderType, Rejection, RejectKind, Side, SimOrder

__all__ = ["buying_power", "check_order", "estimated_price", "held_for_orders", "reserved_buying_power"]

ZERO = Decimal(0)
SHORT_COLLAR = Decimal("1.03")


def buying_power(account: Account, marks: Mapping[str, Decimal], today: date) -> Decimal:
    """Return buying power before open orders: settled cash (cash), cash (IRA), Reg T / PDT (margin)."""
    if account.type is AccountType.CASH:
        return max(account.settled_cash(today), ZERO)
    if account.type is AccountType.IRA:
        return max(account.cash, ZERO)
    equity = account.equity(marks)
    if account.multiplier(marks) == 4:
        return max(equity - account.maintenance_margin(marks), ZERO) * 4
    return max(equity - account.initial_margin(marks), ZERO) * account.multiplier(marks)


def estimated_price(order: SimOrder, inst: Instrument) -> Decimal:
    """Return the price a buy order is expected to pay, for buying-power purposes."""
    if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.limit_price is not None:
        return order.limit_price
    if order.type is OrderType.STOP and order.stop_price is not None:
        return max(order.stop_price, inst.ask)
    if order.type is OrderType.TRAILING_STOP:
        if order.trail_price is not None:
            return inst.ask + order.trail_price
        return inst.ask * (1 + (order.trail_percent or ZERO) / 100)
    return inst.ask


def order_cost(order: SimOrder, inst: Instrument, qty: Decimal | None = None) -> Decimal:
    if qty is None and order.qty is None and order.notional is not None:
        return order.notional - order.filled_value
    return (order.leaves_qty if qty is None else qty) * estimated_price(order, inst) * inst.spec.multiplier


def reserved_buying_power(open_orders: Iterable[SimOrder], instruments: Mapping[str, Instrument]) -> Decimal:
    """Return what open buy orders hold back from buying power."""
    return sum((order_cost(o, instruments[o.symbol]) for o in open_orders if o.side is Side.BUY), ZERO)


def held_for_orders(open_orders: Iterable[SimOrder], symbol: str) -> Decimal:
    """Return the shares held by open sell orders of `symbol`."""
    return sum((o.leaves_qty for o in open_orders if o.side is Side.SELL and o.symbol == symbol), ZERO)


def check_order(
    account: Account,
    order: SimOrder,
    inst: Instrument,
    open_orders: list[SimOrder],
    instruments: Mapping[str, Instrument],
    today: date,
) -> None:
    """Raise Rejection if `order` may not be accepted for `account` right now."""
    marks = {s: i.price * i.spec.multiplier for s, i in instruments.items()}
    _check_pdt(account, order, marks, today)
    available = buying_power(account, marks, today) - reserved_buying_power(open_orders, instruments)
    if order.side is Side.BUY:
        cover = max(-account.position_qty(order.symbol), ZERO)
        qty = None if order.qty is None else max(order.qty - cover, ZERO)
        cost = order_cost(order, inst, qty)
        if cost > available:
            raise Rejection(
                RejectKind.INSUFFICIENT_BUYING_POWER, "insufficient buying power",
                buying_power=max(available, ZERO), cost_basis=cost,
            )
        return
    _check_sell(account, order, inst, open_orders, available)


def _check_sell(
    account: Account, order: SimOrder, inst: Instrument, open_orders: list[SimOrder], available: Decimal
) -> None:
    position = account.position_qty(order.symbol)
    held = held_for_orders(open_orders, order.symbol)
    sellable = max(position, ZERO) - held
    qty = order.target_qty
    if qty <= sellable:
        return
    if position > 0 or held > 0 or order.notional is not None:
        raise Rejection(
            RejectKind.INSUFFICIENT_QTY,
            f"insufficient qty available for order (requested: {qty}, available: {max(sellable, ZERO)})",
            available=max(sellable, ZERO), existing_qty=position, held_for_orders=held,
            symbol=order.symbol,
        )
    if not account.can_short:
        raise Rejection(RejectKind.SHORT_NOT_ALLOWED, "account is not allowed to short")
    if not inst.spec.shortable:
        raise Rejection(RejectKind.SHORT_NOT_ALLOWED, f"asset {order.symbol} cannot be sold short")
    if qty != qty.to_integral_value():
        raise Rejection(RejectKind.SHORT_NOT_ALLOWED, "fractional orders cannot be sold short")
    value = qty * max(order.limit_price or ZERO, inst.bid * SHORT_COLLAR) * inst.spec.multiplier
    if value > available:
        raise Rejection(
            RejectKind.INSUFFICIENT_BUYING_POWER, "insufficient buying power",
            buying_power=max(available, ZERO), cost_basis=value,
        )


def _check_pdt(account: Account, order: SimOrder, marks: Mapping[str, Decimal], today: date) -> None:
    """Refuse a fourth day trade in five business days in a margin account under $25,000."""
    if not account.is_margin or account.equity(marks) >= PDT_MIN_EQUITY:
        return
    closing = account.closes_position_opened_today(order.symbol, order.side is Side.BUY)
    if closing and account.day_trade_count(today) >= 3:
        raise Rejection(RejectKind.PATTERN_DAY_TRADING, "trade denied due to pattern day trading protection")
