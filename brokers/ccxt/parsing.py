"""PURE translation between ccxt's unified structures and the domain: orders, trades, balances, requests.

ccxt's unified numbers are floats: each is read through its shortest repr (0.015 is 0.015), which is exact
for the 8-decimal quantities and prices of crypto spot markets.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from brokers import parsing_support
from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AccountType, AssetClass, OrderSide, OrderType, TimeInForce
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderSnapshot, TradeEventKind
from domain.broker_integration.rules.validation import decimal_in_range
from domain.broker_integration.value_objects import BrokerOrder, ExecutionReport

from .client import MarketRules
from .errors import CcxtOrderNotFoundError, CcxtProtocolError, CcxtUnsupportedOrderError

__all__ = [
    "CLIENT_ID_PATTERNS",
    "EVENT_KINDS",
    "STATUS_FROM_CCXT",
    "broker_account",
    "broker_order_id",
    "check_rules",
    "check_supported",
    "create_order_args",
    "dec",
    "execution_report",
    "order_snapshot",
    "split_broker_order_id",
    "typed_parser",
]

SIDE_TO_CCXT = {OrderSide.BUY: "buy", OrderSide.SELL: "sell"}
SIDE_FROM_CCXT = {v: k for k, v in SIDE_TO_CCXT.items()}
TYPE_TO_CCXT = {OrderType.MARKET: "market", OrderType.LIMIT: "limit", OrderType.STOP_LIMIT: "limit"}
TIF_TO_CCXT = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}
# The exchange's rule for client order ids (Binance: newClientOrderId); others get the same conservative one.
CLIENT_ID_PATTERNS = {"binance": re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")}
_DEFAULT_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

S = OrderStatus
STATUS_FROM_CCXT = {"closed": S.FILLED, "canceled": S.CANCELED, "cancelled": S.CANCELED, "expired": S.EXPIRED,
                    "rejected": S.REJECTED, "canceling": S.PENDING_CANCEL}
K = TradeEventKind
EVENT_KINDS = {S.CANCELED: K.CANCELED, S.EXPIRED: K.EXPIRED, S.REJECTED: K.REJECTED, S.ACCEPTED: K.NEW,
               S.PENDING_CANCEL: K.PENDING_CANCEL}
_SEPARATOR = "@"
# Places of a number we accept from the exchange (its magnitude bound is the domain's): beyond them it is garbage.
MAX_SCALE = 28
# Epoch milliseconds we accept: 1970 up to the year 9999 (datetime's range).
_MAX_MILLIS = 253_402_300_799_999

# Any failure to read a hostile or malformed structure becomes CcxtProtocolError (never a crash).
typed_parser = parsing_support.typed_parser(CcxtProtocolError, what="answer")


def dec(value: Any) -> Decimal | None:
    """A ccxt number (float, int or numeric string) as Decimal; None when absent. NaN, infinities, numbers
    out of range and anything that is not a number are refused with CcxtProtocolError."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if not isinstance(value, float | int | str | Decimal):
        raise CcxtProtocolError(f"not a number: {type(value).__name__}")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise CcxtProtocolError(f"not a number: {str(value)[:40]!r}") from None
    if not decimal_in_range(number, max_scale=MAX_SCALE):
        raise CcxtProtocolError(f"number out of range: {str(value)[:40]!r}")
    return Decimal(0) if number.is_zero() else number


def _amount(value: Any, what: str) -> Decimal | None:
    """An amount or a price: never negative."""
    number = dec(value)
    if number is not None and number < 0:
        raise CcxtProtocolError(f"negative {what}: {number}")
    return number


def _checked(value: Decimal, what: str) -> Decimal:
    """A figure computed from the exchange's numbers, refused when out of range."""
    if not decimal_in_range(value, max_scale=MAX_SCALE):
        raise CcxtProtocolError(f"{what} out of range: {value}")
    return value


def _text_of(value: Any, what: str, *, number: bool = False) -> str:
    """A symbol or an id: a non-empty string (an id given as an integer, with `number`, is read as its digits)."""
    if number and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise CcxtProtocolError(f"{what} is not a string: {type(value).__name__}")
    return value


def _zero(value: Any) -> Decimal:
    return dec(value) or Decimal("0")


def broker_order_id(order_id: str, symbol: str) -> str:
    """Our id for an exchange order: its id and its market (Binance needs both to find it), '1001@BTC/USDT'."""
    return f"{order_id}{_SEPARATOR}{symbol}"


def split_broker_order_id(value: str) -> tuple[str, str]:
    """The exchange's order id and the market of one of our ids."""
    order_id, sep, symbol = value.partition(_SEPARATOR)
    if not sep or not order_id or not symbol:
        raise CcxtOrderNotFoundError(f"{value!r} is not an order id of this adapter (expected ID@BASE/QUOTE)")
    return order_id, symbol


def _refuse(exchange: str, what: str) -> CcxtUnsupportedOrderError:
    return CcxtUnsupportedOrderError(f"{exchange} through brokerflow does not support {what}; the order was not sent")


def check_supported(order: BrokerOrder, exchange: str) -> None:
    """Refuse before sending what the adapter cannot do on a spot market, with the reason."""
    if order.asset_class is not AssetClass.CRYPTO:
        raise _refuse(exchange, f"{order.asset_class} orders (crypto spot only)")
    if order.side not in SIDE_TO_CCXT:
        raise _refuse(exchange, f"{order.side} orders (spot: no short selling)")
    if order.order_type not in TYPE_TO_CCXT:
        raise _refuse(exchange, f"{order.order_type} orders")
    if order.time_in_force not in TIF_TO_CCXT:
        raise _refuse(exchange, f"time in force {order.time_in_force} (GTC, IOC and FOK only)")
    if order.order_type is OrderType.MARKET and order.time_in_force is not TimeInForce.GTC:
        raise _refuse(exchange, f"a time in force on a market order ({order.time_in_force})")
    if order.execution_params.extended_hours:
        raise _refuse(exchange, "extended hours (crypto markets have no sessions)")
    pattern = CLIENT_ID_PATTERNS.get(exchange, _DEFAULT_CLIENT_ID)
    if not pattern.match(order.client_order_id):
        raise _refuse(exchange, f"client order id {order.client_order_id!r} (allowed: {pattern.pattern})")


def _off_step(value: Decimal, step: Decimal | None) -> bool:
    return step is not None and value % step != 0


def check_rules(order: BrokerOrder, rules: MarketRules, reference_price: Decimal | None) -> None:
    """Refuse an order finer than the market's amount step or price tick, or below its minimum amount or
    cost (amount x price, the reference price for a market order); nothing is rounded silently."""
    qty = order.quantity
    if _off_step(qty, rules.amount_step):
        raise CcxtUnsupportedOrderError(f"quantity {qty} is finer than {rules.symbol}'s amount step "
                                        f"{rules.amount_step}; the order was not sent")
    if rules.min_amount is not None and qty < rules.min_amount:
        raise CcxtUnsupportedOrderError(f"quantity {qty} is below {rules.symbol}'s minimum amount "
                                        f"{rules.min_amount}; the order was not sent")
    if rules.max_amount is not None and qty > rules.max_amount:
        raise CcxtUnsupportedOrderError(f"quantity {qty} is above {rules.symbol}'s maximum amount "
                                        f"{rules.max_amount}; the order was not sent")
    for name, price in (("price", order.price), ("stop price", order.stop_price)):
        if price is not None and _off_step(price, rules.price_tick):
            raise CcxtUnsupportedOrderError(f"{name} {price} is not a multiple of {rules.symbol}'s tick "
                                            f"{rules.price_tick}; the order was not sent")
    price = order.price or reference_price
    if rules.min_cost is not None and price is not None and qty * price < rules.min_cost:
        raise CcxtUnsupportedOrderError(f"order cost {qty * price} is below {rules.symbol}'s minimum "
                                        f"{rules.min_cost} {rules.quote}; the order was not sent")


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def create_order_args(order: BrokerOrder, exchange: str) -> dict[str, Any]:
    """Keyword arguments of ccxt's create_order for a checked order; the client order id rides in params."""
    params: dict[str, Any] = {"clientOrderId": order.client_order_id}
    if exchange == "binance":
        params["newOrderRespType"] = "FULL"
    if order.order_type is not OrderType.MARKET:
        params["timeInForce"] = TIF_TO_CCXT[order.time_in_force]
    if order.stop_price is not None:
        params["triggerPrice"] = _text(order.stop_price)
    return {"symbol": order.symbol, "type": TYPE_TO_CCXT[order.order_type], "side": SIDE_TO_CCXT[order.side],
            "amount": float(order.quantity), "price": None if order.price is None else float(order.price),
            "params": params}


def _when(millis: Any) -> datetime | None:
    """Epoch milliseconds (an integer, or an integral float or numeric string) as aware UTC."""
    if millis is None:
        return None
    number = dec(millis)
    if number is None or number != number.to_integral_value() or not 0 <= number <= _MAX_MILLIS:
        raise CcxtProtocolError(f"not a timestamp in epoch milliseconds: {str(millis)[:40]!r}")
    return datetime.fromtimestamp(int(number) / 1000, UTC)


def order_status(order: dict[str, Any]) -> OrderStatus:
    """ccxt's unified status in domain terms; an open order with fills is partially filled."""
    mapped = STATUS_FROM_CCXT.get(str(order.get("status")))
    if mapped is not None:
        return mapped
    return S.PARTIALLY_FILLED if _zero(order.get("filled")) > 0 else S.ACCEPTED


@typed_parser
def order_snapshot(order: dict[str, Any]) -> OrderSnapshot:
    """The domain's view of a ccxt unified order."""
    if not isinstance(order, dict) or not order.get("id") or not order.get("symbol"):
        raise CcxtProtocolError("an order without id or symbol")
    order_id, symbol = _text_of(order["id"], "order id", number=True), _text_of(order["symbol"], "symbol")
    client_id = order.get("clientOrderId")
    quantity, filled = _amount(order.get("amount"), "amount") or Decimal("0"), _amount(order.get("filled"), "filled")
    if filled is not None and filled > quantity > 0:
        raise CcxtProtocolError(f"order {order_id}: filled {filled} exceeds its amount {quantity}")
    filled = filled or Decimal("0")
    kind = str(order.get("type") or "")
    trigger = _amount(order.get("triggerPrice") or order.get("stopPrice"), "trigger price")
    price = _amount(order.get("price"), "price")
    created = _when(order.get("timestamp"))
    updated = _when(order.get("lastUpdateTimestamp") or order.get("lastTradeTimestamp")) or created
    return OrderSnapshot(
        broker_order_id=broker_order_id(order_id, symbol),
        client_order_id=_text_of(client_id, "clientOrderId") if client_id else order_id, status=order_status(order),
        symbol=symbol, quantity=quantity, filled_quantity=filled,
        filled_avg_price=_amount(order.get("average"), "average") if filled > 0 else None,
        limit_price=price if kind != "market" and price else None,
        stop_price=trigger or None, submitted_at=created, updated_at=updated)


def side_of(value: Any) -> OrderSide:
    side = SIDE_FROM_CCXT.get(str(value))
    if side is None:
        raise CcxtProtocolError(f"unknown side {value!r}")
    return side


def _commission(trade: dict[str, Any], rules: MarketRules | None) -> Decimal:
    """The trade's fee in the quote currency (a fee in the base asset is valued at the trade's price)."""
    fee = trade.get("fee") or {}
    if not isinstance(fee, dict):
        raise CcxtProtocolError(f"a trade's fee is not an object: {type(fee).__name__}")
    cost = _zero(fee.get("cost"))
    if cost <= 0 or rules is None:
        return Decimal("0")
    if fee.get("currency") == rules.base:
        return _checked(cost * _zero(trade.get("price")), "fee")
    return cost if fee.get("currency") == rules.quote else Decimal("0")


@typed_parser
def execution_report(trade: dict[str, Any], client_order_id: str, connection_id: str | None,
                     cumulative: Decimal | None, rules: MarketRules | None = None) -> ExecutionReport:
    """One ccxt unified trade as an execution; its id is the exchange's trade id and market ('56@BTC/USDT')."""
    if not isinstance(trade, dict):
        raise CcxtProtocolError(f"a trade is not an object: {type(trade).__name__}")
    executed = _when(trade.get("timestamp"))
    if executed is None or not trade.get("id") or not trade.get("order"):
        raise CcxtProtocolError("a trade without id, order or timestamp")
    symbol = _text_of(trade.get("symbol"), "symbol")
    quantity, price = _amount(trade.get("amount"), "amount"), _amount(trade.get("price"), "price")
    if not quantity or not price:
        raise CcxtProtocolError(f"trade {str(trade['id'])[:40]}: no amount or no price")
    trade_id = _text_of(trade["id"], "trade id", number=True)
    order_id = _text_of(trade["order"], "order id", number=True)
    return ExecutionReport(
        execution_id=broker_order_id(trade_id, symbol), client_order_id=client_order_id,
        broker_order_id=broker_order_id(order_id, symbol), connection_id=connection_id,
        symbol=symbol, side=side_of(trade.get("side")), quantity=quantity,
        price=price, executed_at=executed, commission=_commission(trade, rules),
        cumulative_quantity=cumulative,
        liquidity={"maker": "MAKER", "taker": "TAKER"}.get(str(trade.get("takerOrMaker"))))


@typed_parser
def broker_account(balance: dict[str, Any], prices: dict[str, Decimal], account_number: str, connection_id: str,
                   quote: str, at: datetime | None = None) -> BrokerAccount:
    """Balances as a cash account in the quote currency: the quote asset is cash (free: buying power), every
    other asset with a price in `prices` (symbol BASE/QUOTE -> last) is a position."""
    total, free = balance.get("total") or {}, balance.get("free") or {}
    cash = _zero(total.get(quote))
    positions: dict[str, Position] = {}
    for asset, amount in total.items():
        qty, symbol = _zero(amount), f"{asset}/{quote}"
        if asset == quote or qty == 0 or symbol not in prices:
            continue
        last = prices[symbol]
        positions[symbol] = Position(symbol=symbol, quantity=qty, asset_class=AssetClass.CRYPTO,
                                     market_value=_checked(qty * last, f"{symbol} value"), last_price=last)
    equity = _checked(cash + sum((p.market_value for p in positions.values()), Decimal("0")), "equity")
    return BrokerAccount(
        account_id=account_number, connection_id=connection_id, account_number=account_number,
        account_type=AccountType.CASH, currency=quote, cash=cash, settled_cash=cash, equity=equity,
        last_equity=equity, buying_power=_zero(free.get(quote)), shorting_enabled=False, allow_unsettled_funds=True,
        positions=positions, updated_at=at)
