"""Pre-trade checks against an account snapshot: buying power by account type, positions, shorting."""

from __future__ import annotations

from decimal import Decimal

from ..entities import BrokerAccount
from ..enums import AccountType, OrderSide, OrderType
from ..errors import PreTradeRejectedError
from ..value_objects import BrokerOrder

__all__ = ["SHORT_PRICE_BUFFER", "check_pre_trade", "estimated_cost", "required_buying_power"]

SHORT_PRICE_BUFFER = Decimal("1.03")


def estimated_cost(order: BrokerOrder, reference_price: Decimal) -> Decimal:
    """Notional the order can cost: the limit price when there is one, else the reference price."""
    if order.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and order.price is not None:
        price = order.price
    elif order.order_type is OrderType.STOP and order.stop_price is not None:
        price = max(order.stop_price, reference_price)
    else:
        price = reference_price
    return order.quantity * price


def required_buying_power(order: BrokerOrder, reference_price: Decimal) -> Decimal:
    """What the order consumes of buying power (shorts valued as Alpaca does: max(limit, ask x 1.03))."""
    if order.side is OrderSide.SELL_SHORT:
        limit = order.price or Decimal("0")
        return order.quantity * max(limit, reference_price * SHORT_PRICE_BUFFER)
    if order.side.is_buy:
        return estimated_cost(order, reference_price)
    return Decimal("0")


def _available_for_buy(account: BrokerAccount, reserved: Decimal) -> Decimal:
    if account.account_type is AccountType.MARGIN:
        return account.buying_power - reserved
    # Cash and retirement accounts buy with settled cash only (no free riding).
    return min(account.settled_cash, account.buying_power or account.settled_cash) - reserved


def check_pre_trade(
    order: BrokerOrder,
    account: BrokerAccount,
    reference_price: Decimal,
    reserved_buying_power: Decimal = Decimal("0"),
    reserved_sell_quantity: Decimal = Decimal("0"),
) -> None:
    """Raise PreTradeRejectedError if the account cannot take the order."""
    held = account.position_quantity(order.symbol)
    if order.side is OrderSide.SELL_SHORT:
        if not account.account_type.allows_short or not account.shorting_enabled:
            raise PreTradeRejectedError(
                "SHORT_NOT_ALLOWED",
                f"{account.account_type} account {account.masked_number} cannot sell short",
            )
    elif order.side is OrderSide.SELL:
        available = held - reserved_sell_quantity
        if order.quantity > available:
            raise PreTradeRejectedError(
                "INSUFFICIENT_POSITION",
                f"sell {order.quantity} {order.symbol} but only {available} available",
            )
    elif order.side is OrderSide.BUY_TO_COVER and order.quantity > -held:
        raise PreTradeRejectedError(
            "NO_SHORT_POSITION", f"cover {order.quantity} {order.symbol} but short {-held}"
        )
    needed = required_buying_power(order, reference_price)
    if needed > 0:
        available_bp = _available_for_buy(account, reserved_buying_power)
        if needed > available_bp:
            raise PreTradeRejectedError(
                "INSUFFICIENT_BUYING_POWER",
                f"order needs {needed:.2f} but {max(available_bp, Decimal(0)):.2f} is available",
            )
