"""Order endpoints: POST/GET/DELETE /v2/orders, /v2/orders/{id} (GET/PATCH/DELETE), by client order id."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.alpaca.endpoint import endpoint, parse_time, read_json
from simulator.alpaca.errors import ORDER_NOT_FOUND, AlpacaError, from_rejection, json_response
from simulator.alpaca.parsing import check_fractional, parse_group, parse_order, parse_replace
from simulator.alpaca.wire import order_json
from simulator.core.groups import submit_group
from simulator.core.model import Rejection, SimOrder

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["order_routes"]


def _render(sim: SimulatorRuntime, order: SimOrder, nested: bool = False) -> dict[str, object]:
    body = order_json(order, commission=sim.commission_enabled(order.account_id))
    if nested and order.legs:  # an advanced class's parent: its legs rolled in
        orders = sim.exchange.state.orders
        body["legs"] = [order_json(orders[i], commission=sim.commission_enabled(order.account_id))
                        for i in order.legs]
    return body


def _nested(request: Request) -> bool:
    return request.query_params.get("nested", "").lower() == "true"


@endpoint
async def post_order(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    body = await read_json(request)
    client_id = body.get("client_order_id") if isinstance(body, dict) else None
    entry = sim.record_submission(who.account_id, client_id if isinstance(client_id, str) else None, body)
    try:
        order_request = parse_order(body)
        check_fractional(order_request, sim.exchange.state.instrument(order_request.symbol))
        group = parse_group(body, order_request)
        if group is not None:
            order = submit_group(sim.exchange, who.account_id, group)
        else:
            order = sim.exchange.submit(who.account_id, order_request)
    except (AlpacaError, Rejection) as problem:
        error = from_rejection(problem) if isinstance(problem, Rejection) else problem
        entry.http_status, entry.code, entry.message = error.status, error.code, error.message
        raise error from None
    entry.http_status, entry.order_id = 200, order.id
    entry.client_order_id = order.client_order_id
    return json_response(_render(sim, order, nested=True))


@endpoint
async def list_orders(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    params = request.query_params
    status = params.get("status", "open")
    if status not in ("open", "closed", "all"):
        raise AlpacaError(422, 40010001, f"invalid status: {status}")
    try:
        limit = min(int(params.get("limit", "50")), 500)
    except ValueError:
        raise AlpacaError(422, 40010001, "invalid limit") from None
    after, until = parse_time(params.get("after"), "after"), parse_time(params.get("until"), "until")
    symbols = {s.strip() for s in params.get("symbols", "").split(",") if s.strip()}
    side = params.get("side")
    orders = [o for o in sim.exchange.state.orders.values() if o.account_id == who.account_id]
    selected = [
        o for o in orders
        if (status == "all" or (status == "open") == o.is_open)
        and (not symbols or o.symbol in symbols) and (not side or o.side.value == side)
        and (after is None or (o.submitted_at or o.created_at) > after)
        and (until is None or (o.submitted_at or o.created_at) < until)
    ]
    ascending = params.get("direction", "desc") == "asc"
    selected.sort(key=lambda o: o.seq, reverse=not ascending)
    return json_response([_render(sim, o, _nested(request)) for o in selected[:limit]])


@endpoint
async def get_order(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    order = sim.exchange.state.order_of(who.account_id, request.path_params["order_id"])
    return json_response(_render(sim, order, _nested(request)))


@endpoint
async def get_by_client_id(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    client_id = request.query_params.get("client_order_id", "")
    order_id = sim.exchange.state.client_ids.get((who.account_id, client_id))
    if order_id is None:
        raise ORDER_NOT_FOUND
    return json_response(_render(sim, sim.exchange.state.orders[order_id], _nested(request)))


@endpoint
async def patch_order(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    changes = parse_replace(await read_json(request))
    new = sim.exchange.replace(who.account_id, request.path_params["order_id"], **changes)
    return json_response(_render(sim, new))


@endpoint
async def delete_order(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    sim.exchange.cancel(who.account_id, request.path_params["order_id"])
    return Response(status_code=204)


@endpoint
async def delete_orders(request: Request, who: Identity, sim: SimulatorRuntime) -> Response:
    results: list[dict[str, object]] = []
    for order in sim.exchange.state.open_orders(who.account_id):
        try:
            sim.exchange.cancel(who.account_id, order.id)
            results.append({"id": order.id, "status": 200})
        except Rejection as rejection:
            error = from_rejection(rejection)
            results.append({"id": order.id, "status": error.status, "body": error.body()})
    return json_response(results, 207)


def order_routes() -> list[Route]:
    return [
        Route("/v2/orders:by_client_order_id", get_by_client_id, methods=["GET"]),
        Route("/v2/orders", post_order, methods=["POST"]),
        Route("/v2/orders", list_orders, methods=["GET"]),
        Route("/v2/orders", delete_orders, methods=["DELETE"]),
        Route("/v2/orders/{order_id}", get_order, methods=["GET"]),
        Route("/v2/orders/{order_id}", patch_order, methods=["PATCH"]),
        Route("/v2/orders/{order_id}", delete_order, methods=["DELETE"]),
    ]
