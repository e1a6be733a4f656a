"""Account, positions, activities, assets, clock and calendar endpoints."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.alpaca.endpoint import endpoint, parse_time, truthy
from simulator.alpaca.errors import AlpacaError, from_rejection, json_response
from simulator.alpaca.parsing import parse_decimal
from simulator.alpaca.views import (
    account_json,
    activity_id,
    activity_json,
    asset_json,
    calendar_json,
    clock_json,
    position_json,
)
from simulator.alpaca.wire import order_json
from simulator.core.clock import NEW_YORK
from simulator.core.model import Activity, Rejection
from simulator.core.risk import held_for_orders

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["account_routes"]

ACTIVITY_TYPES = {"FILL", "FEE"}


@endpoint
async def get_account(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    state = sim.exchange.state
    return json_response(account_json(state, state.accounts[who.account_id], pdt_fields=sim.config.include_pdt_fields))


def _position(sim: SimulatorRuntime, account_id: str, symbol: str) -> dict[str, object]:
    state = sim.exchange.state
    position = state.accounts[account_id].positions.get(symbol)
    if position is None:
        raise AlpacaError(404, 40410000, "position does not exist")
    held = held_for_orders(state.open_orders(account_id), symbol)
    return position_json(position, state.instruments[symbol], held)


@endpoint
async def list_positions(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    symbols = sorted(sim.exchange.state.accounts[who.account_id].positions)
    return json_response([_position(sim, who.account_id, s) for s in symbols])


@endpoint
async def get_position(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    return json_response(_position(sim, who.account_id, request.path_params["symbol"]))


@endpoint
async def close_position(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    params = dict(request.query_params)
    qty, percentage = parse_decimal(params, "qty"), parse_decimal(params, "percentage")
    if qty is not None and percentage is not None:
        raise AlpacaError(422, 40010001, "only one of qty or percentage may be specified")
    if percentage is not None and not Decimal(0) < percentage <= 100:
        raise AlpacaError(422, 40010001, "percentage must be between 0 and 100")
    order = sim.exchange.close_position(who.account_id, request.path_params["symbol"], qty, percentage)
    return json_response(order_json(order, commission=sim.commission_enabled(who.account_id)))


@endpoint
async def close_all_positions(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    if truthy(request.query_params.get("cancel_orders")):
        sim.exchange.cancel_all(who.account_id)
    results: list[dict[str, object]] = []
    for symbol in sorted(sim.exchange.state.accounts[who.account_id].positions):
        try:
            order = sim.exchange.close_position(who.account_id, symbol)
            results.append({"symbol": symbol, "status": 200, "body": order_json(order)})
        except Rejection as rejection:
            error = from_rejection(rejection)
            results.append({"symbol": symbol, "status": error.status, "body": error.body()})
    return json_response(results, 207)


def _activity_window(request: Request) -> tuple[datetime | None, datetime | None]:
    params = request.query_params
    if params.get("date"):
        day = parse_time(params["date"], "date")
        assert day is not None
        start = datetime.combine(day.date(), time(0), tzinfo=NEW_YORK)
        return start, datetime.combine(day.date(), time(23, 59, 59, 999999), tzinfo=NEW_YORK)
    return parse_time(params.get("after"), "after"), parse_time(params.get("until"), "until")


def _activities(request: Request, who: Identity, sim: SimulatorRuntime, types: set[str]) -> list[Activity]:
    unknown = types - ACTIVITY_TYPES
    if types and unknown and not types & ACTIVITY_TYPES:
        return []
    after, until = _activity_window(request)
    items = [
        a for a in sim.exchange.state.activities
        if a.account_id == who.account_id and (not types or a.activity_type in types)
        and (after is None or a.transaction_time > after) and (until is None or a.transaction_time < until)
    ]
    if request.query_params.get("direction", "desc") != "asc":
        items.reverse()
    token = request.query_params.get("page_token")
    if token:
        ids = [activity_id(a) for a in items]
        items = items[ids.index(token) + 1:] if token in ids else []
    try:
        size = min(int(request.query_params.get("page_size", "100")), 100)
    except ValueError:
        raise AlpacaError(422, 40010001, "invalid page_size") from None
    return items[:size]


@endpoint
async def activities_by_type(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    kind = request.path_params["activity_type"].upper()
    return json_response([activity_json(a) for a in _activities(request, who, sim, {kind})])


@endpoint
async def activities(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    raw = request.query_params.get("activity_types", "")
    if request.query_params.get("category") == "trade_activity":
        raw = raw or "FILL"
    types = {t.strip().upper() for t in raw.split(",") if t.strip()}
    return json_response([activity_json(a) for a in _activities(request, who, sim, types)])


@endpoint
async def list_assets(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    status = request.query_params.get("status")
    assets = [asset_json(i) for i in sim.exchange.state.instruments.values()]
    return json_response([a for a in assets if not status or a["status"] == status])


@endpoint
async def get_asset(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    key = request.path_params["symbol"]
    for inst in sim.exchange.state.instruments.values():
        if key in (inst.symbol, inst.asset_id):
            return json_response(asset_json(inst))
    raise AlpacaError(404, 40410000, "asset not found")


@endpoint
async def get_clock(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    return json_response(clock_json(sim.exchange.state))


@endpoint
async def get_calendar(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    today = sim.exchange.state.clock.today()
    try:
        start = date.fromisoformat(request.query_params.get("start", today.isoformat())[:10])
        end = date.fromisoformat(request.query_params.get("end", start.isoformat())[:10])
    except ValueError:
        raise AlpacaError(422, 40010001, "invalid date") from None
    return json_response(calendar_json(start, end))


def account_routes() -> list[Route]:
    return [
        Route("/v2/account", get_account, methods=["GET"]),
        Route("/v2/positions", list_positions, methods=["GET"]),
        Route("/v2/positions", close_all_positions, methods=["DELETE"]),
        Route("/v2/positions/{symbol:path}", get_position, methods=["GET"]),
        Route("/v2/positions/{symbol:path}", close_position, methods=["DELETE"]),
        Route("/v2/account/activities", activities, methods=["GET"]),
        Route("/v2/account/activities/{activity_type}", activities_by_type, methods=["GET"]),
        Route("/v2/assets", list_assets, methods=["GET"]),
        Route("/v2/assets/{symbol:path}", get_asset, methods=["GET"]),
        Route("/v2/clock", get_clock, methods=["GET"]),
        Route("/v2/calendar", get_calendar, methods=["GET"]),
    ]
