"""Binance spot's general and market data endpoints: ping, time, exchangeInfo (symbols and their filters),
tickers (price, bookTicker, 24hr) and depth. Public: no key, no signature."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from simulator.binance.frontend import BinanceFrontEnd, public
from simulator.binance.wire import BinanceMarket, fmt, symbol_json

__all__ = ["market_data_routes"]

TEN = Decimal(10)  # the quote size shown when liquidity is unlimited


@public
async def ping(request: Request, front: BinanceFrontEnd) -> Any:
    return {}


@public
async def server_time(request: Request, front: BinanceFrontEnd) -> Any:
    return {"serverTime": int(time.time() * 1000)}


@public
async def exchange_info(request: Request, front: BinanceFrontEnd) -> Any:
    markets = front.markets()
    wanted = request.query_params.get("symbol")
    if wanted:
        markets = {wanted: front.market(wanted)}
    return {"timezone": "UTC", "serverTime": int(time.time() * 1000),
            "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                            "limit": front.limiter.per_minute}],
            "exchangeFilters": [], "symbols": [symbol_json(m) for m in markets.values()]}


def _quotes(front: BinanceFrontEnd, request: Request) -> list[tuple[BinanceMarket, Any]]:
    symbol = request.query_params.get("symbol")
    chosen = [front.market(symbol)] if symbol else list(front.markets().values())
    instruments = front.sim.exchange.state.instruments
    return [(m, instruments[m.symbol]) for m in chosen]


def _one_or_all(request: Request, items: list[dict[str, Any]]) -> Any:
    return items[0] if request.query_params.get("symbol") else items


@public
async def ticker_price(request: Request, front: BinanceFrontEnd) -> Any:
    return _one_or_all(request, [{"symbol": m.symbol, "price": fmt(i.price)} for m, i in _quotes(front, request)])


@public
async def book_ticker(request: Request, front: BinanceFrontEnd) -> Any:
    return _one_or_all(request, [{"symbol": m.symbol, "bidPrice": fmt(i.bid), "bidQty": fmt(i.liquidity or TEN),
                                  "askPrice": fmt(i.ask), "askQty": fmt(i.liquidity or TEN)}
                                 for m, i in _quotes(front, request)])


@public
async def ticker_24hr(request: Request, front: BinanceFrontEnd) -> Any:
    now = int(time.time() * 1000)
    items = [{"symbol": m.symbol, "priceChange": fmt(i.price - i.prev_close),
              "priceChangePercent": f"{(i.price - i.prev_close) / i.prev_close * 100:.3f}",
              "weightedAvgPrice": fmt(i.price), "prevClosePrice": fmt(i.prev_close), "lastPrice": fmt(i.price),
              "lastQty": fmt(None), "bidPrice": fmt(i.bid), "bidQty": fmt(i.liquidity or TEN), "askPrice": fmt(i.ask),
              "askQty": fmt(i.liquidity or TEN), "openPrice": fmt(i.prev_close), "highPrice": fmt(i.price),
              "lowPrice": fmt(i.price), "volume": fmt(None), "quoteVolume": fmt(None), "openTime": now - 86_400_000,
              "closeTime": now, "firstId": -1, "lastId": -1, "count": 0} for m, i in _quotes(front, request)]
    return _one_or_all(request, items)


@public
async def depth(request: Request, front: BinanceFrontEnd) -> Any:
    market = front.market(request.query_params.get("symbol"))
    inst = front.sim.exchange.state.instruments[market.symbol]
    size = fmt(inst.liquidity or Decimal(10))
    return {"lastUpdateId": front.sim.exchange.state.events.next_seq, "bids": [[fmt(inst.bid), size]],
            "asks": [[fmt(inst.ask), size]]}


def market_data_routes() -> list[Route]:
    return [
        Route("/api/v3/ping", ping, methods=["GET"]),
        Route("/api/v3/time", server_time, methods=["GET"]),
        Route("/api/v3/exchangeInfo", exchange_info, methods=["GET"]),
        Route("/api/v3/ticker/price", ticker_price, methods=["GET"]),
        Route("/api/v3/ticker/bookTicker", book_ticker, methods=["GET"]),
        Route("/api/v3/ticker/24hr", ticker_24hr, methods=["GET"]),
        Route("/api/v3/depth", depth, methods=["GET"]),
    ]
