"""Pre-trade checks on our own account figures: buying power by account type (or margin at the broker's rate
for forex and crypto), positions, shorting, day trades of small margin accounts, good-faith violations of cash
accounts, and the buying power and shares that orders in flight already hold (reservations).

The two exits of an OCO (and of a bracket) sell the same position, and at most one of them trades: they hold
it once. They are told by their client order ids, `<group id>-tp` and `<group id>-sl` (order_groups.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from pydantic import Field

from ..base import ValueObject
from ..entities import BrokerAccount
from ..enums import AccountType, OrderSide, OrderType
from ..errors import PreTradeRejectedError
from ..order_groups import LegRole
from ..value_objects import BrokerOrder
from .accounting import day_trade_count, tracks_good_faith
from .assets import notional
from .margin import (
    PDT_DAY_TRADES,
    PDT_MIN_EQUITY,
    RATED_CLASSES,
    AccountFigures,
    compute_figures,
    margin_rate,
)

__all__ = [
    "EXIT_SUFFIXES",
    "SHORT_PRICE_BUFFER",
    "Reservation",
    "ReservedTotals",
    "check_pre_trade",
    "estimated_cost",
    "exit_pair",
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
    """What the order consumes of buying power (equity shorts valued as Alpaca does: max(limit, ask x 1.03));
    forex and crypto by their notional (their margin is this x the instrument's margin rate)."""
    if order.side is OrderSide.SELL_SHORT and order.asset_class in RATED_CLASSES:
        return estimated_cost(order, reference_price, currency)
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
    """What other open orders of an account hold (an OCO's two exits once: the larger of the two)."""

    buying_power: Decimal = ZERO
    sell_quantity: Decimal = ZERO
    orders: int = 0
    pair_buying_power: dict[str, Decimal] = Field(default_factory=dict)  # each group's exits (within the totals)
    pair_sell_quantity: dict[str, Decimal] = Field(default_factory=dict)

    def excluding_pair(self, order: BrokerOrder) -> ReservedTotals:
        """The totals without what the order's own OCO sibling holds (they hold the position once)."""
        group = exit_pair(order.client_order_id)
        if group is None or (group not in self.pair_buying_power and group not in self.pair_sell_quantity):
            return self
        bp, qty = self.pair_buying_power.get(group, ZERO), self.pair_sell_quantity.get(group, ZERO)
        return ReservedTotals(buying_power=self.buying_power - bp, sell_quantity=self.sell_quantity - qty,
                              orders=max(self.orders - 1, 0))


# How the client order id of a group's exit ends (`exit_pair`).
EXIT_SUFFIXES = tuple(f"-{role.suffix}" for role in (LegRole.TAKE_PROFIT, LegRole.STOP_LOSS))


def exit_pair(client_order_id: str) -> str | None:
    """The group id of an order group's exit (`<group id>-tp` or `-sl`); None for any other order."""
    for suffix in EXIT_SUFFIXES:
        if client_order_id.endswith(suffix) and len(client_order_id) > len(suffix):
            return client_order_id.removesuffix(suffix)
    return None


def reserved_totals(reservations: Iterable[Reservation], symbol: str, exclude: str | None = None) -> ReservedTotals:
    """Sum the reservations (all symbols for buying power, `symbol` only for shares being sold); the exits of
    one group on one symbol and side count once, at the larger of the two. One pass, summed in locals: an
    account may hold thousands of resting orders, and this runs for every new one."""
    bp = qty = ZERO
    count = 0
    pairs: dict[tuple[str, str, OrderSide], tuple[Decimal, Decimal]] = {}
    for r in reservations:
        if r.client_order_id == exclude or r.held_quantity <= 0:
            continue
        count += 1
        group = exit_pair(r.client_order_id)
        if group is None:
            bp += r.held_amount
            if r.symbol == symbol and r.side is OrderSide.SELL:
                qty += r.held_quantity
            continue
        key = (group, r.symbol, r.side)
        amount, quantity = pairs.get(key, (ZERO, ZERO))
        pairs[key] = (max(amount, r.held_amount), max(quantity, r.held_quantity))
    pair_bp: dict[str, Decimal] = {}
    pair_qty: dict[str, Decimal] = {}
    for (group, held_symbol, side), (amount, quantity) in pairs.items():
        bp += amount
        pair_bp[group] = amount
        if held_symbol == symbol and side is OrderSide.SELL:
            qty += quantity
            pair_qty[group] = quantity
    return ReservedTotals(buying_power=bp, sell_quantity=qty, orders=count, pair_buying_power=pair_bp,
                          pair_sell_quantity=pair_qty)


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
    reserved = reserved.excluding_pair(order)
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
    rate = margin_rate(account, order.asset_class, order.symbol) if account.account_type is AccountType.MARGIN \
        else None
    if needed > 0 and rate is not None:
        _check_margin(order, figures, needed, fees, reserved, rate)
    elif needed > 0:
        available_bp = figures.buying_power - reserved.buying_power
        if needed + fees > available_bp:
            raise PreTradeRejectedError(
                "INSUFFICIENT_BUYING_POWER", _buying_power_reason(figures, needed, fees, reserved, available_bp)
            )
    return figures


def _check_margin(order: BrokerOrder, figures: AccountFigures, notional_value: Decimal, fees: Decimal,
                  reserved: ReservedTotals, rate: Decimal) -> None:
    """Forex and crypto: the order posts its notional x the instrument's margin rate out of margin available."""
    required = notional_value * rate
    # Other orders' reservations (their notional) at this order's rate: an OANDA account margins its pairs alike.
    held = reserved.buying_power * rate
    available = figures.margin_available - held
    if required + fees <= available:
        return
    leverage = (1 / rate).quantize(Decimal("0.1")).normalize()
    fee_part = f" plus {_money(fees)} est. fees" if fees else ""
    raise PreTradeRejectedError("INSUFFICIENT_MARGIN", (
        f"order needs {_money(required)} margin{fee_part}: {order.symbol} notional {_money(notional_value)} at "
        f"margin rate {rate.normalize():f} ({leverage:f}:1); margin available {_money(figures.margin_available)} "
        f"(equity {_money(figures.equity)}, margin used {_money(figures.margin_used)}) less {_money(held)} "
        f"reserved by {reserved.orders} open order(s) leaves {_money(available)}"))


def _closes_todays_position(order: BrokerOrder, account: BrokerAccount) -> bool:
    held = account.position_quantity(order.symbol)
    closing = (held > 0 and not order.side.is_buy) or (held < 0 and order.side.is_buy)
    return closing and account.opened_today.get(order.symbol, ZERO) > 0


def _check_day_trades(order: BrokerOrder, account: BrokerAccount, figures: AccountFigures, day: date) -> None:
    """FINRA 4210: below $25,000 a margin account may not make a 4th day trade in 5 business days (securities
    only: forex and crypto are not under the rule)."""
    if account.account_type is not AccountType.MARGIN or figures.equity >= PDT_MIN_EQUITY:
        return
    if order.asset_class in RATED_CLASSES:
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
