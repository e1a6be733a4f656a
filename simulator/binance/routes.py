"""Binance spot REST `/api/v3`: orders (place, query, cancel, lists), trades and the account's balances;
the general and market data endpoints are in market_data.py."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from simulator.binance.frontend import BinanceError, BinanceFrontEnd, Trade, from_rejection, mandatory, signed
from simulator.binance.market_data import market_data_routes
from simulator.binance.wire import BinanceMarket, fmt, millis
from simulator.core import Account, OrderRequest, OrderType, Rejection, Side, SimOrder, TimeInForce
from simulator.core.risk import reserved_buying_power

__all__ = ["rest_routes"]

EIGHT = Decimal("0.00000001")
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
TYPES = {"MARKET": OrderType.MARKET, "LIMIT": OrderType.LIMIT, "STOP_LOSS_LIMIT": OrderType.STOP_LIMIT}
TIFS = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK}
# The core keeps one cash balance per account: in a crypto account it is this asset.
CASH_ASSET = "USDT"
MAX_LIMIT = 1000
TEN = Decimal(10)  # the quote size shown when liquidity is unlimited


def _decimal(params: dict[str, str], name: str) -> Decimal | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")
    if value.quantize(EIGHT) != value:
        raise BinanceError(400, -1111, f"Parameter '{name}' has too much precision.")
    if value <= 0:
        raise BinanceError(400, -1013, f"Invalid {name}.")
    return value


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _choice(params: dict[str, str], name: str, allowed: dict[str, Any], code: int, msg: str) -> Any:
    value = params.get(name, "").strip().upper()
    if not value:
        raise mandatory(name)
    if value not in allowed:
        raise BinanceError(400, code, msg)
    return allowed[value]


def _on_step(value: Decimal, low: Decimal, step: Decimal) -> bool:
    return (value - low) % step == 0


def check_filters(market: BinanceMarket, qty: Decimal, price: Decimal | None, stop: Decimal | None,
                  reference: Decimal) -> None:
    """PRICE_FILTER, LOT_SIZE and NOTIONAL, as Binance applies them to a new order."""
    for value in (price, stop):
        if value is not None and not (market.min_price <= value <= market.max_price
                                      and _on_step(value, market.min_price, market.tick_size)):
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
    if not (market.min_qty <= qty <= market.max_qty and _on_step(qty, market.min_qty, market.step_size)):
        raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
    if qty * (price or reference) < market.min_notional:
        raise BinanceError(400, -1013, "Filter failure: NOTIONAL")


def _not_required(params: dict[str, str], *names: str) -> None:
    for name in names:
        if params.get(name):
            raise BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def order_request(front: BinanceFrontEnd, p: dict[str, str]) -> OrderRequest:
    """The core's request for POST /api/v3/order's parameters, after Binance's checks and filters."""
    market = front.market(p.get("symbol"))
    side = _choice(p, "side", SIDES, -1117, "Invalid side.")
    kind = _choice(p, "type", TYPES, -1116, "Invalid orderType.")
    if p.get("quoteOrderQty"):
        raise BinanceError(400, -1013, "quoteOrderQty is not supported by this simulator.")
    qty = _decimal(p, "quantity")
    if qty is None:
        raise mandatory("quantity")
    price, stop = _decimal(p, "price"), _decimal(p, "stopPrice")
    if kind is OrderType.MARKET:
        _not_required(p, "timeInForce", "price", "stopPrice")
        tif = TimeInForce.GTC
    else:
        tif = _choice(p, "timeInForce", TIFS, -1115, "Invalid timeInForce.")
        if price is None:
            raise mandatory("price")
        if kind is OrderType.STOP_LIMIT and stop is None:
            raise mandatory("stopPrice")
        if kind is OrderType.LIMIT:
            _not_required(p, "stopPrice")
    cid = p.get("newClientOrderId") or None
    if cid is not None and not CLIENT_ID.match(cid):
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                       "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
    check_filters(market, qty, price, stop, front.sim.exchange.state.instrument(market.symbol).price)
    return OrderRequest(market.symbol, side, kind, tif, qty=qty, limit_price=price, stop_price=stop,
                        client_order_id=cid)


def _fills(trades: list[Trade], order: SimOrder, market: BinanceMarket) -> list[dict[str, Any]]:
    asset = market.base if order.side is Side.BUY else market.quote
    return [{"price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(None), "commissionAsset": asset,
             "tradeId": t.id} for t in trades]


@signed
async def place_order(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    sim = front.sim
    entry = sim.record_submission(account.id, p.get("newClientOrderId") or None, dict(p))
    try:
        req = order_request(front, p)
        accepted = sim.exchange.submit(account.id, req)
    except BinanceError as error:
        entry.http_status, entry.code, entry.message = error.status, error.code, error.msg
        raise
    except Rejection as rejection:
        refused = from_rejection(rejection)
        entry.http_status, entry.code, entry.message = refused.status, refused.code, refused.msg
        raise
    book = front.book
    order = sim.exchange.state.orders[accepted.id]
    entry.http_status, entry.order_id = 200, str(book.order_id(order.id))
    ack = {"symbol": order.symbol, "orderId": book.order_id(order.id), "orderListId": -1,
           "clientOrderId": order.client_order_id, "transactTime": millis(order.created_at)}
    kind = p.get("newOrderRespType", "").upper() or ("FULL" if req.type in (OrderType.MARKET, OrderType.LIMIT)
                                                     else "ACK")
    if kind == "ACK":
        return ack
    view = book.view(order)
    result = {**ack, **{k: v for k, v in view.items() if k not in ("time", "updateTime", "isWorking")}}
    if kind == "FULL":
        market = front.market(order.symbol)
        result["fills"] = _fills([t for t in book.trades if t.order_id == ack["orderId"]], order, market)
    return result


def _find(front: BinanceFrontEnd, account: Account, p: dict[str, str], missing: BinanceError) -> SimOrder:
    market = front.market(p.get("symbol"))
    order_id, cid = _int(p, "orderId"), p.get("origClientOrderId") or None
    if order_id is None and cid is None:
        raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                                       "empty/null!")
    book = front.book
    order = book.order(account.id, order_id) if order_id is not None else book.by_client_id(account.id, cid or "")
    if order is None or order.symbol != market.symbol or (cid is not None and order.client_order_id != cid):
        raise missing
    return order


@signed
async def get_order(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    return front.book.view(_find(front, account, p, BinanceError(400, -2013, "Order does not exist.")))


@signed
async def cancel_order(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    unknown = BinanceError(400, -2011, "Unknown order sent.")
    order = _find(front, account, p, unknown)
    if not order.is_open:
        raise unknown
    book = front.book
    book.user_canceled.add(order.id)
    try:
        front.sim.exchange.cancel(account.id, order.id)
    except Rejection:
        book.user_canceled.discard(order.id)
        raise
    if order.is_open or book.view(order)["status"] != "CANCELED":
        raise unknown  # the venue filled it first
    view = book.view(order)
    new_id = p.get("newClientOrderId") or uuid.uuid4().hex[:22]
    return {**{k: v for k, v in view.items() if k not in ("time", "updateTime", "isWorking", "workingTime")},
            "origClientOrderId": order.client_order_id, "clientOrderId": new_id,
            "transactTime": millis(front.sim.exchange.state.now())}


def _crypto_orders(front: BinanceFrontEnd, account: Account) -> list[SimOrder]:
    markets = front.markets()
    orders = [o for o in front.sim.exchange.state.orders.values()
              if o.account_id == account.id and o.symbol in markets]
    return sorted(orders, key=lambda o: front.book.order_id(o.id))


@signed
async def open_orders(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    symbol = front.market(p["symbol"]).symbol if p.get("symbol") else None
    return [front.book.view(o) for o in _crypto_orders(front, account)
            if o.is_open and (symbol is None or o.symbol == symbol)]


def _window(items: list[Any], p: dict[str, str], key: str, start_key: str) -> list[Any]:
    """Binance's paging: from an id (or a start time) onwards, else the most recent `limit`."""
    limit = min(_int(p, "limit") or 500, MAX_LIMIT)
    start, begin, end = _int(p, start_key), _int(p, "startTime"), _int(p, "endTime")
    if start is not None:
        items = [i for i in items if i[key] >= start]
    if begin is not None:
        items = [i for i in items if i["time"] >= begin]
    if end is not None:
        items = [i for i in items if i["time"] <= end]
    return items[:limit] if start is not None or begin is not None else items[-limit:]


@signed
async def all_orders(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    symbol = front.market(p.get("symbol")).symbol
    views = [front.book.view(o) for o in _crypto_orders(front, account) if o.symbol == symbol]
    return _window(views, p, "orderId", "orderId")


def _trade_json(trade: Trade, market: BinanceMarket) -> dict[str, Any]:
    return {"symbol": trade.symbol, "id": trade.id, "orderId": trade.order_id, "orderListId": -1,
            "price": fmt(trade.price), "qty": fmt(trade.qty), "quoteQty": fmt(trade.price * trade.qty),
            "commission": fmt(None), "commissionAsset": market.base if trade.is_buyer else market.quote,
            "time": millis(trade.time), "isBuyer": trade.is_buyer, "isMaker": False, "isBestMatch": True}


@signed
async def my_trades(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    market = front.market(p.get("symbol"))
    order_id = _int(p, "orderId")
    views = [_trade_json(t, market) for t in front.book.trades
             if t.account_id == account.id and t.symbol == market.symbol
             and (order_id is None or t.order_id == order_id)]
    return _window(views, p, "id", "fromId")


def balances(front: BinanceFrontEnd, account: Account) -> list[dict[str, str]]:
    """Free and locked per asset: open buys lock the quote asset, open sells the base asset."""
    state, markets = front.sim.exchange.state, front.markets()
    opens = [o for o in state.open_orders(account.id) if o.symbol in markets]
    total: dict[str, Decimal] = defaultdict(Decimal, {CASH_ASSET: account.cash})
    locked: dict[str, Decimal] = defaultdict(Decimal)
    locked[CASH_ASSET] = reserved_buying_power(opens, state.instruments)
    for market in markets.values():
        total[market.base] += account.position_qty(market.symbol)
        total[market.quote] += 0
    for order in opens:
        if order.side is Side.SELL:
            locked[markets[order.symbol].base] += order.leaves_qty
    return [{"asset": a, "free": fmt(total[a] - locked[a]), "locked": fmt(locked[a])} for a in sorted(total)]


@signed
async def account_info(request: Request, account: Account, p: dict[str, str], front: BinanceFrontEnd) -> Any:
    rates = {"maker": fmt(None), "taker": fmt(None), "buyer": fmt(None), "seller": fmt(None)}
    return {"makerCommission": 0, "takerCommission": 0, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": rates, "canTrade": True, "canWithdraw": False, "canDeposit": False,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": millis(front.sim.exchange.state.now()), "accountType": "SPOT",
            "balances": balances(front, account), "permissions": ["SPOT"], "uid": abs(hash(account.id)) % 10**9}


def rest_routes() -> list[Route]:
    return [
        *market_data_routes(),
        Route("/api/v3/order", place_order, methods=["POST"]),
        Route("/api/v3/order", get_order, methods=["GET"]),
        Route("/api/v3/order", cancel_order, methods=["DELETE"]),
        Route("/api/v3/openOrders", open_orders, methods=["GET"]),
        Route("/api/v3/allOrders", all_orders, methods=["GET"]),
        Route("/api/v3/myTrades", my_trades, methods=["GET"]),
        Route("/api/v3/account", account_info, methods=["GET"]),
    ]
