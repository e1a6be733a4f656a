"""OANDA v20 order routes: create, list, get (by id or `@<clientID>`), cancel, replace (cancel + create);
the account routes come from account_routes.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.core import Account, OrderStatus, Rejection, RejectKind
from simulator.oanda.frontend import OandaError, OandaFrontEnd, endpoint, json_body
from simulator.oanda.ledger import OandaLedger, OandaOrder
from simulator.oanda.orders import RequestRefused, core_request, order_view, parse_order, request_echo
from simulator.oanda.wire import ts

__all__ = ["checked_account", "order_view_of", "rest_routes"]

ZERO = Decimal(0)
Answer = tuple[int, dict[str, Any]]
_CORE_REJECTS = {RejectKind.INSUFFICIENT_BUYING_POWER: "INSUFFICIENT_MARGIN",
                 RejectKind.INSUFFICIENT_QTY: "INSUFFICIENT_MARGIN",
                 RejectKind.SHORT_NOT_ALLOWED: "INSUFFICIENT_MARGIN",
                 RejectKind.DUPLICATE_CLIENT_ID: "CLIENT_ORDER_ID_ALREADY_EXISTS",
                 RejectKind.UNKNOWN_ASSET: "INSTRUMENT_UNKNOWN", RejectKind.PRICE: "PRICE_INVALID",
                 RejectKind.PATTERN_DAY_TRADING: "ACCOUNT_NOT_ACTIVE"}


def _sweep_gtd(front: OandaFrontEnd, account: Account) -> None:
    """Cancel GTD orders whose gtdTime the simulated clock has passed."""
    ledger = front.ledger
    now = ts(ledger.exchange.state.now()) or ""
    for order in ledger.of_account(account.id):
        if order.state == "PENDING" and order.gtd_time and order.gtd_time <= now and order.core_id:
            order.cancel_reason = "TIME_IN_FORCE_EXPIRED"
            ledger.exchange.cancel(account.id, order.core_id)


def checked_account(request: Request, who: Identity, front: OandaFrontEnd) -> Account:
    """The path's account, its expired GTD orders cancelled first."""
    account = front.account(request.path_params["account_id"], who)
    _sweep_gtd(front, account)
    return account


def _last(front: OandaFrontEnd, account: Account) -> str:
    return front.ledger.last_id(account.id)


def _reject(ledger: OandaLedger, account: Account, spec: Any, refused: RequestRefused, status: int = 400) -> Answer:
    kind = str(spec.get("type") or "MARKET").upper() if isinstance(spec, dict) else "MARKET"
    echo = {k: v for k, v in (spec if isinstance(spec, dict) else {}).items() if k != "type"}
    transaction = ledger.append(account.id, {"type": f"{kind}_ORDER_REJECT", **echo, "reason": "CLIENT_ORDER",
                                             "rejectReason": refused.reason})
    return status, {"orderRejectTransaction": transaction, "relatedTransactionIDs": [transaction["id"]],
                    "lastTransactionID": transaction["id"], "errorCode": refused.reason,
                    "errorMessage": refused.message}


def _placed(ledger: OandaLedger, account: Account, create: dict[str, Any], order: OandaOrder) -> dict[str, Any]:
    """The 201 body: the create transaction and whatever the order did at once (filled, cancelled)."""
    related = [t for t in ledger.since(account.id, int(create["id"]) - 1)
               if t["id"] == create["id"] or t.get("orderID") == order.id]
    body: dict[str, Any] = {"orderCreateTransaction": create}
    fills = [t for t in related if t["type"] == "ORDER_FILL"]
    if fills:
        body["orderFillTransaction"] = fills[-1]
    cancels = [t for t in related if t["type"] == "ORDER_CANCEL"]
    if cancels:
        body["orderCancelTransaction"] = cancels[-1]
    body["relatedTransactionIDs"] = [t["id"] for t in related]
    body["lastTransactionID"] = ledger.last_id(account.id)
    return body


def _margin_allows(front: OandaFrontEnd, account: Account, order: OandaOrder) -> bool:
    """Whether the margin the order adds, at its pair's effective rate, fits in the margin available (the core
    checks at the account's rate alone, which a pair with a higher rate must not get past)."""
    state = front.ledger.exchange.state
    inst = state.instruments[order.instrument]
    at = order.price if order.price is not None else inst.ask if order.units > 0 else inst.bid
    margin = front.ledger.margin
    return margin.required(account, order.instrument, order.units, at) <= margin.available(account, state.marks())


def _place(front: OandaFrontEnd, account: Account, order: OandaOrder, replaces: OandaOrder | None = None
           ) -> dict[str, Any]:
    """Record the create transaction, hand the order to the core; a refusal (margin first, then the core's)
    cancels a new order at once and refuses a replacement (Rejection)."""
    ledger = front.ledger
    inst = ledger.exchange.state.instruments[order.instrument]
    order.replaces_order_id = replaces.id if replaces else None
    create = ledger.create(order, request_echo(order, inst))
    client_id = order.client_id or f"oanda:{order.id}"
    if replaces is not None and order.client_id and order.client_id == replaces.client_id:
        client_id = f"{client_id}:{order.id}"
    if not _margin_allows(front, account, order):
        if replaces is not None:
            raise Rejection(RejectKind.INSUFFICIENT_BUYING_POWER, "insufficient margin at the instrument's rate")
        ledger.cancelled(order, "INSUFFICIENT_MARGIN")
        return _placed(ledger, account, create, order)
    if replaces is None:
        try:
            core = ledger.exchange.submit(account.id, core_request(order, client_id))
        except Rejection as rejection:
            ledger.cancelled(order, _CORE_REJECTS.get(rejection.kind, "INTERNAL_SERVER_ERROR"))
            return _placed(ledger, account, create, order)
    else:
        assert replaces.core_id is not None
        replaces.cancel_reason = "CLIENT_REQUEST_REPLACED"
        core = ledger.exchange.replace(account.id, replaces.core_id, qty=abs(order.units),
                                       time_in_force=core_request(order, client_id).time_in_force,
                                       limit_price=order.price if order.type == "LIMIT" else None,
                                       stop_price=order.price if order.type == "STOP" else None,
                                       client_order_id=client_id)
    if order.core_id is None:
        ledger.link(order, core.id)
    return _placed(ledger, account, create, order)


@endpoint
async def create_order(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    body = await json_body(request)
    spec = body.get("order")
    sim, ledger = front.sim, front.ledger
    client_id = (spec.get("clientExtensions") or {}).get("id") if isinstance(spec, dict) else None
    entry = sim.record_submission(account.id, client_id if isinstance(client_id, str) else None, body)
    try:
        order = parse_order(spec, account.id, ledger)
    except RequestRefused as refused:
        status, answer = _reject(ledger, account, spec, refused)
        entry.http_status, entry.message = status, refused.message
        return status, answer
    placed = _place(front, account, order)
    entry.http_status, entry.order_id = 201, order.id
    return 201, placed


def _find(front: OandaFrontEnd, account: Account, specifier: str) -> OandaOrder:
    order = front.ledger.find(account.id, specifier)
    if order is None:
        raise OandaError(404, "The Order specified does not exist", "ORDER_DOESNT_EXIST")
    return order


def order_view_of(front: OandaFrontEnd, order: OandaOrder) -> dict[str, Any]:
    return order_view(order, front.ledger.exchange.state.instruments[order.instrument])


@endpoint
async def list_orders(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    query = request.query_params
    state = query.get("state", "PENDING").upper()
    ids = {i for i in query.get("ids", "").split(",") if i}
    instrument = query.get("instrument")
    before = int(query["beforeID"]) if query.get("beforeID", "").isdigit() else None
    try:
        count = min(max(int(query.get("count", "50")), 1), 500)
    except ValueError:
        raise OandaError(400, "Invalid value specified for 'count'", "INVALID_PARAMETER") from None
    found = [o for o in front.ledger.of_account(account.id)
             if (state == "ALL" or o.state == state) and (not ids or o.id in ids)
             and (instrument is None or o.instrument == instrument) and (before is None or int(o.id) < before)]
    return 200, {"orders": [order_view_of(front, o) for o in found[:count]], "lastTransactionID": _last(front, account)}


@endpoint
async def pending_orders(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    found = [o for o in front.ledger.of_account(account.id) if o.state == "PENDING"]
    return 200, {"orders": [order_view_of(front, o) for o in found], "lastTransactionID": _last(front, account)}


@endpoint
async def get_order(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    order = _find(front, account, request.path_params["specifier"])
    return 200, {"order": order_view_of(front, order), "lastTransactionID": _last(front, account)}


def _cancel_reject(front: OandaFrontEnd, account: Account, specifier: str, order: OandaOrder | None) -> Answer:
    body: dict[str, Any] = {"type": "ORDER_CANCEL_REJECT", "orderID": order.id if order else specifier,
                            "rejectReason": "ORDER_DOESNT_EXIST"}
    if order is not None and order.client_id:
        body["clientOrderID"] = order.client_id
    transaction = front.ledger.append(account.id, body)
    message = "The Order specified does not exist" if order is None else "The Order specified is not pending"
    return 404, {"orderCancelRejectTransaction": transaction, "relatedTransactionIDs": [transaction["id"]],
                 "lastTransactionID": transaction["id"], "errorCode": "ORDER_DOESNT_EXIST", "errorMessage": message}


@endpoint
async def cancel_order(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    account = checked_account(request, who, front)
    specifier = request.path_params["specifier"]
    ledger = front.ledger
    order = ledger.find(account.id, specifier)
    if order is None or order.state != "PENDING" or order.core_id is None:
        return _cancel_reject(front, account, specifier, order)
    order.cancel_reason = "CLIENT_REQUEST"
    ledger.exchange.cancel(account.id, order.core_id)
    if order.state != "CANCELLED":  # the venue filled it first
        return _cancel_reject(front, account, specifier, order)
    transaction = next(t for t in ledger.since(account.id, 0) if t["id"] == order.cancelling_transaction_id)
    return 200, {"orderCancelTransaction": transaction, "relatedTransactionIDs": [transaction["id"]],
                 "lastTransactionID": ledger.last_id(account.id)}


@endpoint
async def replace_order(request: Request, who: Identity, front: OandaFrontEnd) -> Answer:
    """Cancel the order and create its replacement (a new id) in one batch; the same type only."""
    account = checked_account(request, who, front)
    specifier = request.path_params["specifier"]
    ledger = front.ledger
    old = ledger.find(account.id, specifier)
    if old is None or old.state != "PENDING" or old.core_id is None:
        return _cancel_reject(front, account, specifier, old)
    spec = (await json_body(request)).get("order")
    try:
        new = parse_order(spec, account.id, ledger, replacing=True)
        if new.type != old.type:
            raise RequestRefused("ORDER_TYPE_INVALID", "A replacing order must be of the replaced order's type")
        if new.instrument != old.instrument:
            raise RequestRefused("INSTRUMENT_UNKNOWN", "A replacing order must trade the replaced order's instrument")
        if new.client_id and new.client_id != old.client_id and ledger.client_id_taken(account.id, new.client_id):
            raise RequestRefused("CLIENT_ORDER_ID_ALREADY_EXISTS", "The client order ID specified is already assigned")
    except RequestRefused as refused:
        return _reject(ledger, account, spec, refused)
    try:
        placed = _place(front, account, new, replaces=old)
    except Rejection as rejection:
        ledger.orders[account.id].pop(new.id, None)
        old.cancel_reason = None
        return _reject(ledger, account, spec, RequestRefused(_CORE_REJECTS.get(rejection.kind, "INVALID_ORDER"),
                                                             rejection.message))
    core_new = ledger.core(new)
    if core_new is not None and core_new.status is OrderStatus.REJECTED:  # the old order filled first
        return _cancel_reject(front, account, specifier, old)
    cancel = ledger.cancelled(old, "CLIENT_REQUEST_REPLACED", replaced_by=new.id)
    if "orderCancelTransaction" in placed:  # the replacement itself was cancelled at once (FOK, margin)
        placed["replacingOrderCancelTransaction"] = placed["orderCancelTransaction"]
    placed["orderCancelTransaction"] = cancel
    placed["relatedTransactionIDs"] = sorted({*placed["relatedTransactionIDs"], cancel["id"]}, key=int)
    placed["lastTransactionID"] = ledger.last_id(account.id)
    return 201, placed


def rest_routes() -> list[Route]:
    from simulator.oanda.account_routes import account_routes

    base = "/v3/accounts/{account_id}"
    return [
        *account_routes(),
        Route(f"{base}/orders", create_order, methods=["POST"]),
        Route(f"{base}/orders", list_orders, methods=["GET"]),
        Route(f"{base}/pendingOrders", pending_orders, methods=["GET"]),
        Route(f"{base}/orders/{{specifier}}", get_order, methods=["GET"]),
        Route(f"{base}/orders/{{specifier}}", replace_order, methods=["PUT"]),
        Route(f"{base}/orders/{{specifier}}/cancel", cancel_order, methods=["PUT"]),
    ]
