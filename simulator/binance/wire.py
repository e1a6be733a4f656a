"""Binance spot's JSON shapes: decimals as 8-place strings, epoch milliseconds, symbols' filters, orders, trades.

Written from Binance's spot REST documentation (developers.binance.com, `/api/v3`), independently of brokers/.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulator.core import OrderStatus, SimOrder

__all__ = [
    "KNOWN_MARKETS",
    "QUOTE_ASSETS",
    "BinanceMarket",
    "fmt",
    "market_of",
    "millis",
    "order_json",
    "status_of",
    "symbol_json",
]

EIGHT = Decimal("0.00000001")
# Quote assets a crypto instrument's symbol may end with (the rest of the symbol is the base asset).
QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BTC", "ETH")


def fmt(value: Decimal | None) -> str:
    """A decimal as Binance writes it: a string with 8 decimal places ("0.01500000")."""
    return f"{(value or Decimal(0)).quantize(EIGHT):f}"


def millis(moment: datetime | None) -> int:
    """Epoch milliseconds (Binance's timestamps); 0 when absent."""
    return int(moment.timestamp() * 1000) if moment is not None else 0


@dataclass(frozen=True)
class BinanceMarket:
    """One spot symbol and its filters (PRICE_FILTER, LOT_SIZE, NOTIONAL)."""

    symbol: str
    base: str
    quote: str
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")


# Filters of the symbols in the default configuration, as Binance publishes them for spot.
KNOWN_MARKETS = {
    "BTCUSDT": BinanceMarket("BTCUSDT", "BTC", "USDT"),
    "ETHUSDT": BinanceMarket("ETHUSDT", "ETH", "USDT", step_size=Decimal("0.0001"), min_qty=Decimal("0.0001"),
                             max_qty=Decimal("100000")),
}


def market_of(symbol: str, asset_class: str) -> BinanceMarket | None:
    """The Binance market of a crypto instrument (known filters, else generic ones); None for other assets."""
    if asset_class != "crypto":
        return None
    known = KNOWN_MARKETS.get(symbol)
    if known is not None:
        return known
    quote = next((q for q in QUOTE_ASSETS if symbol.endswith(q) and len(symbol) > len(q)), None)
    return None if quote is None else BinanceMarket(symbol, symbol[: -len(quote)], quote)


def symbol_json(market: BinanceMarket) -> dict[str, Any]:
    """One entry of GET /api/v3/exchangeInfo `symbols`."""
    return {
        "symbol": market.symbol, "status": "TRADING", "baseAsset": market.base, "baseAssetPrecision": 8,
        "quoteAsset": market.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"],
        "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False, "quoteOrderQtyMarketAllowed": False,
        "allowTrailingStop": False, "cancelReplaceAllowed": False, "amendAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(market.min_price), "maxPrice": fmt(market.max_price),
             "tickSize": fmt(market.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fmt(market.min_qty), "maxQty": fmt(market.max_qty),
             "stepSize": fmt(market.step_size)},
            {"filterType": "NOTIONAL", "minNotional": fmt(market.min_notional), "applyMinToMarket": True,
             "maxNotional": fmt(market.max_notional), "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


_STATUS = {OrderStatus.PARTIALLY_FILLED: "PARTIALLY_FILLED", OrderStatus.FILLED: "FILLED",
           OrderStatus.CANCELED: "CANCELED", OrderStatus.REPLACED: "CANCELED", OrderStatus.EXPIRED: "EXPIRED",
           OrderStatus.DONE_FOR_DAY: "EXPIRED", OrderStatus.REJECTED: "REJECTED"}
_TYPES = {"market": "MARKET", "limit": "LIMIT", "stop_limit": "STOP_LOSS_LIMIT"}


def status_of(order: SimOrder, canceled_by_user: bool) -> str:
    """Binance's order status: IOC/FOK remainders the venue cancels are EXPIRED, user cancels CANCELED."""
    status = _STATUS.get(order.status, "NEW")  # accepted, pending_*, new: working
    if status == "CANCELED" and not canceled_by_user and order.time_in_force.value in ("ioc", "fok"):
        return "EXPIRED"
    return status


def order_json(order: SimOrder, order_id: int, canceled_by_user: bool) -> dict[str, Any]:
    """GET /api/v3/order's object for a core order (a stop-limit not yet triggered is not working)."""
    created = millis(order.created_at)
    stop_waiting = order.type.value == "stop_limit" and not order.triggered
    return {
        "symbol": order.symbol, "orderId": order_id, "orderListId": -1, "clientOrderId": order.client_order_id,
        "price": fmt(order.limit_price), "origQty": fmt(order.qty), "executedQty": fmt(order.filled_qty),
        "cummulativeQuoteQty": fmt(order.filled_value), "status": status_of(order, canceled_by_user),
        "timeInForce": "GTC" if order.time_in_force.value in ("day", "gtc") else order.time_in_force.value.upper(),
        "type": _TYPES.get(order.type.value, order.type.value.upper()), "side": order.side.value.upper(),
        "stopPrice": fmt(order.stop_price), "icebergQty": fmt(None), "time": created,
        "updateTime": millis(order.updated_at) or created, "isWorking": order.is_open and not stop_waiting,
        "workingTime": created if not stop_waiting else -1, "origQuoteOrderQty": fmt(None),
        "selfTradePreventionMode": "NONE",
    }
