"""The ASGI application: Alpaca v2 REST + /stream, Tradier v1 REST + account events, OANDA v3 REST +
transaction stream, Binance spot /api/v3 REST, the /_sim admin API, fault injection in front.

Both brokers are served on the same host and port: their paths do not overlap (/v2 and /stream are Alpaca's,
/v1/... is Tradier's), so each adapter is pointed at the same base URL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from simulator.admin import admin_routes
from simulator.alpaca.account_routes import account_routes
from simulator.alpaca.errors import json_response
from simulator.alpaca.market_data import market_data_routes
from simulator.alpaca.order_routes import order_routes
from simulator.alpaca.stream import stream_endpoint
from simulator.binance import BinanceFrontEnd, binance_routes
from simulator.binance.faults import BinanceFaultMiddleware
from simulator.faults import FaultMiddleware
from simulator.oanda import OandaFrontEnd, oanda_routes
from simulator.oanda.faults import OandaFaultMiddleware
from simulator.runtime import SimulatorRuntime
from simulator.tradier import TradierFrontEnd, tradier_routes
from simulator.tradier.faults import TradierFaultMiddleware

__all__ = ["build_app"]


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"code": 40410000, "message": "endpoint not found"}, 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return json_response({"code": 40510000, "message": "method not allowed"}, 405)


def build_app(sim: SimulatorRuntime) -> Any:
    """Return the ASGI app serving `sim`; the fault middleware sits outermost, next to the server."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sim.running():
            yield

    routes = [
        *order_routes(),
        *account_routes(),
        *market_data_routes(),
        WebSocketRoute("/stream", stream_endpoint),
        *tradier_routes(),
        *oanda_routes(),
        *binance_routes(),
        *admin_routes(),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: _not_found, 405: _not_allowed})
    app.state.sim = sim
    app.state.tradier = TradierFrontEnd(sim)
    app.state.oanda = OandaFrontEnd(sim)
    app.state.binance = BinanceFrontEnd(sim)
    # Wrapping by hand (not app.add_middleware) keeps uvicorn's own `send` reachable, which the
    # "drop the response" fault needs to close the connection.
    faults = sim.faults_ref()
    inner = BinanceFaultMiddleware(OandaFaultMiddleware(app, faults), faults)
    return FaultMiddleware(TradierFaultMiddleware(inner, faults), faults)
