"""Pre-trade checks on our own account figures: buying power by account type, positions, shorting,
day trades of small margin accounts, good-faith violations of cash accounts, and the buying power and
shares that orders in flight already hold (reservations)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from ..base import ValueObject
from ..entities import BrokerAccount
from ..enums import AccountType, OrderSide, OrderType
from ..errors import PreTradeRejectedError
from ..value_objects import BrokerOrder
from .accounting import day_trade_count, tracks_good_faith
from .assets import notional
from .margin import PDT_DAY_TRADES, PDT_MIN_EQUITY, AccountFigures, compute_figures

__all__ = [
    "SHORT_PRICE_BUFFER",
    "Reservation",
    "ReservedTotals",
    "check_pre_trade",
    "estimated_cost",
    "required_buying_power",
    "reservation_for",
    "reserved_totals",
]

ZERO = Decimal("0")
SHORT_PRICE_BUFFER = Decimal("1.03")


def estimated_cost(order: BrokerOrder, reference_price: Decimal, currency: str = "USD") -> Decimal:
    """Notional the order can cost in `currency`: the limit price when there is one, else the reference
    price (options by their multiplier, forex pairs in the account's currency where it is one side)."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is not None:
        price = order.price
    elif order.order_type is OrderType.STOP and order.stop_price is not None:
        price = max(order.stop_price, reference_price)
    else:
        price = reference_price
    return notional(order.asset_class, order.symbol, order.quantity, price, currency)


def required_buying_power(order: BrokerOrder, reference_price: Decimal, currency: str = "USD") -> Decimal:
    """What the order consumes of buying power (shorts valued as Alpaca does: max(limit, ask x 1.03))."""
    if order.side is OrderSide.SELL_SHORT:
        limit = order.price or ZERO
        price = max(limit, reference_price * SHORT_PRICE_BUFFER)
        return notional(order.asset_class, order.symbol, order.quantity, price, currency)
    if order.side.is_buy:
        return estimated_cost(order, reference_price, currency)
    return ZERO


class Reservation(ValueObject):
    """Buying power and shares an order in flight holds until it fills, is cancelled or is rejected."""

    client_order_id: str
    account_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    amount: Decimal
    filled_quantity: Decimal = ZERO

    @property
    def remaining_share(self) -> Decimal:
        """The unfilled fraction (a fill moves its part into cash and positions)."""
        if self.quantity <= 0:
            return ZERO
        return max(self.quantity - self.filled_quantity, ZERO) / self.quantity

    @property
    def held_amount(self) -> Decimal:
        return self.amount * self.remaining_share

    @property
    def held_quantity(self) -> Decimal:
        return max(self.quantity - self.filled_quantity, ZERO)


def reservation_for(order: BrokerOrder, account_id: str, reference_price: Decimal,
                    fees: Decimal = ZERO) -> Reservation:
    """The reservation an accepted order takes: its buying power (plus fees) and, for a sell, its shares."""
    amount = required_buying_power(order, reference_price)
    return Reservation(client_order_id=order.client_order_id, account_id=account_id, symbol=order.symbol,
                       side=order.side, quantity=order.quantity, amount=amount + fees if amount else ZERO)


class ReservedTotals(ValueObject):
    """What other open orders of an account hold."""

    buying_power: Decimal = ZERO
    sell_quantity: Decimal = ZERO
    orders: int = 0


def reserved_totals(reservations: Iterable[Reservation], symbol: str, exclude: str | None = None) -> ReservedTotals:
    """Sum the reservations (all symbols for buying power, `symbol` only for shares being sold)."""
    bp = qty = ZERO
    count = 0
    for r in reservations:
        if r.client_order_id == exclude or r.held_quantity <= 0:
            continue
        count += 1
        bp += r.held_amount
        if r.symbol == symbol and r.side is OrderSide.SELL:
            qty += r.held_quantity
    return ReservedTotals(buying_power=bp, sell_quantity=qty, orders=count)


def _money(value: Decimal) -> str:
    return f"${max(value, ZERO):,.2f}" if value >= 0 else f"-${-value:,.2f}"


def _buying_power_reason(figures: AccountFigures, needed: Decimal, fees: Decimal, reserved: ReservedTotals,
                         available: Decimal) -> str:
    basis = {
        AccountType.MARGIN: f"Reg T buying power {_money(figures.buying_power)} "
                            f"(equity {_money(figures.equity)}, initial margin {_money(figures.initial_margin)}, "
                            f"x{figures.multiplier})",
    }.get(figures.account_type, f"{'cash' if figures.buying_power > figures.settled_cash else 'settled cash'} "
                                f"{_money(figures.buying_power)}")
    fee_part = f" incl. {_money(fees)} est. fees" if fees else ""
    return (f"order needs {_money(needed + fees)}{fee_part}; {basis} less {_money(reserved.buying_power)} "
            f"reserved by {reserved.orders} open order(s) leaves {_money(available)}")


def check_pre_trade(
    order: BrokerOrder,
    account: BrokerAccount,
    reference_price: Decimal,
    reserved_buying_power: Decimal = ZERO,
    reserved_sell_quantity: Decimal = ZERO,
    *,
    today: date | None = None,
    fees: Decimal = ZERO,
    reserved: ReservedTotals | None = None,
) -> AccountFigures:
    """Raise PreTradeRejectedError (with the figures in the reason) if the account cannot take the order.

    Returns our figures for the account, which the caller stores with the order's reservation.
    """
    reserved = reserved or ReservedTotals(buying_power=reserved_buying_power, sell_quantity=reserved_sell_quantity)
    day = today or account.trade_date or date.min
    figures = compute_figures(account, day)
    held = account.position_quantity(order.symbol)
    if order.side is OrderSide.SELL_SHORT:
        if not account.account_type.allows_short or not account.shorting_enabled:
            raise PreTradeRejectedError(
                "SHORT_NOT_ALLOWED",
                f"{account.account_type} account {account.masked_number} cannot sell short",
            )
    elif order.side is OrderSide.SELL:
        available = held - reserved.sell_quantity
        if order.quantity > available:
            raise PreTradeRejectedError(
                "INSUFFICIENT_POSITION",
                f"sell {order.quantity} {order.symbol} but only {available} available "
                f"(held {held}, {reserved.sell_quantity} in open sells)",
            )
        _check_good_faith(order, account, day)
    elif order.side is OrderSide.BUY_TO_COVER and order.quantity > -held:
        raise PreTradeRejectedError(
            "NO_SHORT_POSITION", f"cover {order.quantity} {order.symbol} but short {-held}"
        )
    _check_day_trades(order, account, figures, day)
    needed = required_buying_power(order, reference_price, account.currency)
    if needed > 0:
        available_bp = figures.buying_power - reserved.buying_power
        if needed + fees > available_bp:
            raise PreTradeRejectedError(
                "INSUFFICIENT_BUYING_POWER", _buying_power_reason(figures, needed, fees, reserved, available_bp)
            )
    return figures


def _closes_todays_position(order: BrokerOrder, account: BrokerAccount) -> bool:
    held = account.position_quantity(order.symbol)
    closing = (held > 0 and not order.side.is_buy) or (held < 0 and order.side.is_buy)
    return closing and account.opened_today.get(order.symbol, ZERO) > 0


def _check_day_trades(order: BrokerOrder, account: BrokerAccount, figures: AccountFigures, day: date) -> None:
    """FINRA 4210: below $25,000 a margin account may not make a 4th day trade in 5 business days."""
    if account.account_type is not AccountType.MARGIN or figures.equity >= PDT_MIN_EQUITY:
        return
    if account.trade_date != day or not _closes_todays_position(order, account):
        return
    count = max(day_trade_count(account, day), account.day_trade_count)
    if account.pattern_day_trader or count >= PDT_DAY_TRADES - 1:
        raise PreTradeRejectedError(
            "PATTERN_DAY_TRADER",
            f"closing {order.symbol} opened today would be day trade {count + 1} in 5 business days "
            f"with equity {_money(figures.equity)} below {_money(PDT_MIN_EQUITY)}",
        )


def _check_good_faith(order: BrokerOrder, account: BrokerAccount, day: date) -> None:
    """Cash accounts: selling shares bought with unsettled funds before those funds settle is refused."""
    if not tracks_good_faith(account):
        return
    unfunded = sum((p.quantity for p in account.unsettled_purchases
                    if p.symbol == order.symbol and p.funds_settle_on > day), ZERO)
    fully_paid = account.position_quantity(order.symbol) - unfunded
    if order.quantity > fully_paid:
        settle = max(p.funds_settle_on for p in account.unsettled_purchases if p.symbol == order.symbol)
        raise PreTradeRejectedError(
            "GOOD_FAITH_VIOLATION",
            f"sell {order.quantity} {order.symbol}: {unfunded} were bought with funds that settle on "
            f"{settle.isoformat()}; only {max(fully_paid, ZERO)} may be sold before then",
        )
