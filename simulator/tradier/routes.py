"""Tradier REST routes: orders (place, list, get, modify in place, cancel), balances, positions, profile, quotes."""

from __future__ import annotations

import contextlib
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from simulator.alpaca.auth import Identity
from simulator.core import Account, Instrument, MarketState, OrderRequest, OrderType, Rejection, Side, TimeInForce
from simulator.core.options import OptionInstrument, list_option, parse_occ
from simulator.core.risk import buying_power, reserved_buying_power
from simulator.tradier.book import TradierOrder
from simulator.tradier.frontend import TradierError, TradierFrontEnd, endpoint, form
from simulator.tradier.wire import collection, num, ts

__all__ = ["rest_routes"]

TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")
SIDES = {"buy": Side.BUY, "buy_to_cover": Side.BUY, "sell": Side.SELL, "sell_short": Side.SELL}
TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP,
         "stop_limit": OrderType.STOP_LIMIT}
DURATIONS = {"day": TimeInForce.DAY, "gtc": TimeInForce.GTC, "pre": TimeInForce.DAY, "post": TimeInForce.DAY}
OTHER_CLASSES = frozenset({"option", "oto", "oco", "otoco"})  # placed by simulator/tradier/orders.py


def _decimal(fields: dict[str, str], name: str) -> Decimal | None:
    raw = fields.get(name, "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise TradierError(400, f"Invalid Parameter: {name}") from None
    if not value.is_finite() or value <= 0:
        raise TradierError(400, f"Invalid Parameter: {name}")
    return value


def _choice(fields: dict[str, str], name: str, allowed: dict[str, Any]) -> str:
    value = fields.get(name, "").strip().lower()
    if value not in allowed:
        raise TradierError(400, f"Invalid Parameter: {name}" if value else f"Missing Parameter: {name}")
    return value


def _check_side(side: str, held: Decimal, qty: Decimal) -> None:
    """Tradier wants the side that says what the order does to the position."""
    if side == "buy" and held < 0:
        raise TradierError(400, "Order side buy is not valid for a short position: use buy_to_cover")
    if side == "buy_to_cover" and held >= 0:
        raise TradierError(400, "Order side buy_to_cover needs a short position")
    if side == "sell" and held < qty:
        raise TradierError(400, "Order side sell exceeds the long position: use sell_short to open a short")
    if side == "sell_short" and held > 0:
        raise TradierError(400, "Order side sell_short is not valid while holding a long position")


def _order_request(fields: dict[str, str], held: Decimal) -> tuple[OrderRequest, str, str, str | None]:
    klass = fields.get("class", "").strip().lower()
    if klass != "equity":
        raise TradierError(400, f"Invalid Parameter: class ({klass or 'missing'}); this simulator trades equity, "
                                "option, oto, oco and otoco")
    if fields.get("preview", "").lower() == "true":
        raise TradierError(400, "preview is not supported by this simulator")
    symbol = fields.get("symbol", "").strip().upper()
    if not symbol:
        raise TradierError(400, "Missing Parameter: symbol")
    side, kind, duration = _choice(fields, "side", SIDES), _choice(fields, "type", TYPES), \
        _choice(fields, "duration", DURATIONS)
    qty = _decimal(fields, "quantity")
    if qty is None or qty != qty.to_integral_value():
        raise TradierError(400, "Invalid Parameter: quantity")
    price, stop = _decimal(fields, "price"), _decimal(fields, "stop")
    if kind in ("limit", "stop_limit") and price is None:
        raise TradierError(400, "Missing Parameter: price")
    if kind in ("stop", "stop_limit") and stop is None:
        raise TradierError(400, "Missing Parameter: stop")
    tag = fields.get("tag") or None
    if tag is not None and not TAG.match(tag):
        raise TradierError(400, "Invalid Parameter: tag (up to 255 letters, digits and dashes)")
    if duration in ("pre", "post") and kind != "limit":
        raise TradierError(400, "Extended hours orders must be limit orders")
    _check_side(side, held, qty)
    request = OrderRequest(symbol, SIDES[side], TYPES[kind], DURATIONS[duration], qty=qty,
                           limit_price=price if kind in ("limit", "stop_limit") else None,
                           stop_price=stop if kind in ("stop", "stop_limit") else None,
                           extended_hours=duration in ("pre", "post"))
    return request, side, duration, tag


@endpoint
async def place_order(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account = front.account(request.path_params["account_id"], who)
    fields = await form(request)
    if fields.get("class", "").strip().lower() in OTHER_CLASSES:
        from simulator.tradier.orders import place  # (cycle) orders.py builds on this module's checks

        return place(front, account, fields)
    sim = front.sim
    entry = sim.record_submission(account.id, fields.get("tag"), dict(fields))
    try:
        order_request, side, duration, tag = _order_request(fields, account.position_qty(
            fields.get("symbol", "").strip().upper()))
        book = front.book
        record = book.add(account.id, side, duration, tag)
        book.pending = record
        try:
            sim.exchange.submit(account.id, order_request)
        finally:
            book.forget(record)
    except TradierError as error:
        entry.http_status, entry.message = error.status, str(error)
        raise
    except Exception as error:
        entry.http_status, entry.message = 400, str(error)
        raise
    entry.http_status, entry.order_id = 200, str(record.id)
    return {"order": {"id": record.id, "status": "ok", "partner_id": str(uuid.uuid5(uuid.NAMESPACE_OID, "sim"))}}


def _record(front: TradierFrontEnd, request: Request, who: Identity) -> tuple[str, TradierOrder]:
    account = front.account(request.path_params["account_id"], who)
    record = front.book.get(account.id, request.path_params["order_id"])
    if record is None:
        raise TradierError(404, "Order not found")
    return account.id, record


@endpoint
async def list_orders(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account = front.account(request.path_params["account_id"], who)
    tags = request.query_params.get("includeTags", "").lower() == "true"
    book = front.book
    return {"orders": collection("order", [book.view(r, tags=tags) for r in book.of_account(account.id)])}


@endpoint
async def get_order(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    _, record = _record(front, request, who)
    tags = request.query_params.get("includeTags", "").lower() == "true"
    return {"order": front.book.view(record, tags=tags)}


@endpoint
async def modify_order(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    """Change type/duration/price/stop in place: the order keeps its id (quantity cannot change)."""
    account_id, record = _record(front, request, who)
    fields = await form(request)
    if "quantity" in fields:
        raise TradierError(400, "Invalid Parameter: quantity cannot be modified; cancel and place a new order")
    if record.is_group or record.parent_id is not None:
        raise TradierError(400, "this simulator does not modify oto/oco/otoco orders or their legs")
    live = front.book.live(record)
    if fields.get("type") and TYPES.get(fields["type"].lower()) is not live.type:
        raise TradierError(400, "changing the order type is not supported by this simulator")
    duration = fields.get("duration", "").lower() or None
    if duration is not None and duration not in DURATIONS:
        raise TradierError(400, "Invalid Parameter: duration")
    front.sim.exchange.replace(
        account_id, live.id, qty=live.leaves_qty if live.qty is not None else None,
        time_in_force=DURATIONS[duration] if duration else None,
        limit_price=_decimal(fields, "price"), stop_price=_decimal(fields, "stop"))
    if duration:
        record.duration = duration
    return {"order": {"id": record.id, "status": "ok", "partner_id": str(uuid.uuid5(uuid.NAMESPACE_OID, "sim"))}}


@endpoint
async def cancel_order(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account_id, record = _record(front, request, who)
    target = front.book.cancel_target(record)
    if target is None:
        raise TradierError(400, f"order already in finalized state: {front.book.status(record)}")
    front.sim.exchange.cancel(account_id, target.id)
    return {"order": {"id": record.id, "status": "ok"}}


@endpoint
async def balances(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account = front.account(request.path_params["account_id"], who)
    state = front.sim.exchange.state
    marks, today = state.marks(), state.clock.today()
    reserved = reserved_buying_power(state.open_orders(account.id), state.instruments)
    power = max(buying_power(account, marks, today) - reserved, Decimal(0))
    long_value, short_value = account.long_market_value(marks), account.short_market_value(marks)
    option_long, option_short = _option_values(account, state)
    kind = "margin" if account.is_margin else "cash"
    body: dict[str, Any] = {
        "account_number": account.number, "account_type": "pdt" if account.pattern_day_trader else kind,
        "total_equity": num(account.equity(marks)), "total_cash": num(account.cash),
        "market_value": num(long_value + short_value), "long_market_value": num(long_value),
        "short_market_value": num(short_value), "stock_long_value": num(long_value - option_long),
        "option_long_value": num(option_long), "option_short_value": num(option_short), "option_requirement": 0.0,
        "current_requirement": num(account.maintenance_margin(marks)), "equity": 0.0, "open_pl": 0.0,
        "close_pl": 0.0, "pending_orders_count": len(state.open_orders(account.id)), "uncleared_funds": 0.0,
        "pending_cash": 0.0, "net_value": num(account.equity(marks)),
    }
    if account.is_margin:
        body["pdt" if account.pattern_day_trader else "margin"] = {
            "fed_call": 0.0, "maintenance_call": 0.0, "option_buying_power": num(power / 2),
            "stock_buying_power": num(power), "stock_short_value": num(option_short - short_value), "sweep": 0.0}
    else:
        body["cash"] = {"cash_available": num(power), "sweep": 0.0,
                        "unsettled_funds": num(account.cash - account.settled_cash(today))}
    return {"balances": body}


def _option_values(account: Account, state: MarketState) -> tuple[Decimal, Decimal]:
    """The market value of the account's long and of its short option positions (contracts x 100)."""
    marks, long_value, short_value = state.marks(), Decimal(0), Decimal(0)
    for symbol, position in account.positions.items():
        if state.instruments[symbol].spec.asset_class == "option":
            value = position.qty * marks[symbol]
            long_value, short_value = (long_value + value, short_value) if value > 0 else \
                (long_value, short_value + value)
    return long_value, short_value


@endpoint
async def positions(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account = front.account(request.path_params["account_id"], who)
    instruments = front.sim.exchange.state.instruments
    # An option's cost basis is what the contracts cost: premium x 100 per contract.
    items = [{"cost_basis": num(p.qty * p.avg_entry_price * instruments[s].spec.multiplier),
              "date_acquired": ts(account.created_at),
              "id": 1000 + n, "quantity": num(p.qty), "symbol": s}
             for n, (s, p) in enumerate(sorted(account.positions.items()))]
    return {"positions": collection("position", items)}


@endpoint
async def profile(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    account = front.sim.exchange.state.accounts[who.account_id]
    entry = {"account_number": account.number, "classification": "individual",
             "date_created": ts(account.created_at), "day_trading": account.pattern_day_trader,
             "option_level": 6 if account.is_margin else 2, "status": "active",
             "type": "margin" if account.is_margin else "cash",
             "last_update_date": ts(account.created_at)}
    return {"profile": {"account": entry, "id": f"id-{account.id.lower()}", "name": f"Simulated {account.id}"}}


@endpoint
async def quotes(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    names = [s.strip().upper() for s in request.query_params.get("symbols", "").split(",") if s.strip()]
    state = front.sim.exchange.state
    for name in names:
        if parse_occ(name) is not None:
            with contextlib.suppress(Rejection):  # an unknown underlying or an expired contract: unmatched
                list_option(state, name)
    instruments = state.instruments
    found = [_quote(instruments[s]) for s in names if s in instruments]
    body: dict[str, Any] = collection("quote", found)
    body = body if isinstance(body, dict) else {}
    missing = [s for s in names if s not in instruments]
    if missing:
        body["unmatched_symbols"] = {"symbol": missing[0] if len(missing) == 1 else missing}
    return {"quotes": body or "null"}


def _quote(inst: Instrument) -> dict[str, Any]:
    body: dict[str, Any] = {"symbol": inst.symbol, "description": inst.spec.name, "exch": "Q", "type": "stock",
                            "last": num(inst.price), "bid": num(inst.bid), "ask": num(inst.ask),
                            "prevclose": num(inst.prev_close)}
    if isinstance(inst, OptionInstrument) and inst.contract is not None:
        contract = inst.contract
        body.update({"exch": "Z", "type": "option", "underlying": contract.root, "strike": num(contract.strike),
                     "option_type": contract.right, "expiration_date": contract.expiry.isoformat(),
                     "contract_size": int(inst.spec.multiplier)})
    return body


@endpoint
async def events_session(request: Request, who: Identity, front: TradierFrontEnd) -> dict[str, Any]:
    scheme = "wss" if request.url.scheme == "https" else "ws"
    url = f"{scheme}://{request.url.netloc}/v1/accounts/events"
    return {"stream": {"url": url, "sessionid": front.open_session(who)}}


def rest_routes() -> list[Route]:
    return [
        Route("/v1/user/profile", profile, methods=["GET"]),
        Route("/v1/markets/quotes", quotes, methods=["GET", "POST"]),
        Route("/v1/accounts/events/session", events_session, methods=["POST"]),
        Route("/v1/accounts/{account_id}/orders", place_order, methods=["POST"]),
        Route("/v1/accounts/{account_id}/orders", list_orders, methods=["GET"]),
        Route("/v1/accounts/{account_id}/orders/{order_id}", get_order, methods=["GET"]),
        Route("/v1/accounts/{account_id}/orders/{order_id}", modify_order, methods=["PUT"]),
        Route("/v1/accounts/{account_id}/orders/{order_id}", cancel_order, methods=["DELETE"]),
        Route("/v1/accounts/{account_id}/balances", balances, methods=["GET"]),
        Route("/v1/accounts/{account_id}/positions", positions, methods=["GET"]),
    ]
