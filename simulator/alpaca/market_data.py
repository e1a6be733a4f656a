"""Alpaca Market Data API v2: latest trade and latest quote per stock symbol (the SIP feed's shapes).

At Alpaca these live on data.alpaca.markets; the simulator serves them on its own host, which is where
a client pointed at a custom base URL looks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.alpaca.endpoint import endpoint
from simulator.alpaca.errors import AlpacaError, json_response
from simulator.alpaca.wire import ts

if TYPE_CHECKING:
    from simulator.core.instruments import Instrument
    from simulator.runtime import SimulatorRuntime

__all__ = ["market_data_routes"]


def _instrument(sim: SimulatorRuntime, symbol: str) -> Instrument:
    instrument = sim.exchange.state.instruments.get(symbol.upper())
    if instrument is None:
        raise AlpacaError(404, 40410000, f"no data for symbol {symbol}")
    return instrument


@endpoint
async def latest_trade(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    instrument = _instrument(sim, request.path_params["symbol"])
    now = ts(sim.exchange.state.now())
    trade = {"t": now, "x": "V", "p": float(instrument.price), "s": 100, "c": ["@"], "i": 1, "z": "C"}
    return json_response({"symbol": instrument.symbol, "trade": trade})


@endpoint
async def latest_quote(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    instrument = _instrument(sim, request.path_params["symbol"])
    quote = {"t": ts(sim.exchange.state.now()), "ax": "V", "ap": float(instrument.ask), "as": 1,
             "bx": "V", "bp": float(instrument.bid), "bs": 1, "c": ["R"], "z": "C"}
    return json_response({"symbol": instrument.symbol, "quote": quote})


def market_data_routes() -> list[Route]:
    return [
        Route("/v2/stocks/{symbol}/trades/latest", latest_trade, methods=["GET"]),
        Route("/v2/stocks/{symbol}/quotes/latest", latest_quote, methods=["GET"]),
    ]
