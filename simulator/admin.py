"""The simulator's own admin API under /_sim/ (not part of any broker's API): see simulator/README.md.

When an admin token is configured (`protect(sim, token)`, or env BROKERFLOW_SIM_ADMIN_TOKEN for a
simulator process), every request that changes state (any method but GET/HEAD) needs
``Authorization: Bearer <token>``; reads stay open.
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import os
import weakref
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.alpaca.endpoint import parse_time
from simulator.alpaca.errors import AlpacaError
from simulator.alpaca.views import activity_json
from simulator.alpaca.wire import dec, event_json, order_json, ts
from simulator.config import AccountConfig
from simulator.core import Rejection
from simulator.core.session import advance_to

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["ADMIN_TOKEN_ENV", "admin_routes", "protect"]

ADMIN_TOKEN_ENV = "BROKERFLOW_SIM_ADMIN_TOKEN"
_READS = ("GET", "HEAD")
_TOKENS: weakref.WeakKeyDictionary[SimulatorRuntime, str] = weakref.WeakKeyDictionary()


def protect(sim: SimulatorRuntime, token: str | None) -> None:
    """Require `token` for every admin request of `sim` that changes state (None: the environment decides)."""
    if token:
        _TOKENS[sim] = token
    else:
        _TOKENS.pop(sim, None)


def _authorized(request: Request) -> bool:
    expected = _TOKENS.get(_sim(request)) or os.environ.get(ADMIN_TOKEN_ENV)
    if not expected or request.method in _READS:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def _sim(request: Request) -> SimulatorRuntime:
    return request.app.state.sim  # type: ignore[no-any-return]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _ok(content: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def admin(handler: Any) -> Any:
    """Check the admin token; turn bad admin input into a 400 with the reason."""

    async def wrapped(request: Request) -> Response:
        if not _authorized(request):
            return JSONResponse({"error": "Unauthorized", "message": "admin token required"}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except (ValueError, KeyError, ValidationError, Rejection, AlpacaError) as error:
            return _ok({"error": type(error).__name__, "message": str(error)}, 400)

    return wrapped


def clock_view(sim: SimulatorRuntime) -> dict[str, Any]:
    clock = sim.exchange.state.clock
    return {"now": ts(clock.now()), "is_open": clock.is_open(), "next_open": ts(clock.next_open()),
            "next_close": ts(clock.next_close()), "autotick": sim.autotick_enabled,
            "autotick_interval": sim.autotick_interval}


def instrument_view(sim: SimulatorRuntime, symbol: str) -> dict[str, Any]:
    inst = sim.exchange.state.instruments[symbol]
    return {"symbol": symbol, "price": dec(inst.price), "bid": dec(inst.bid), "ask": dec(inst.ask),
            "volatility": dec(inst.volatility), "liquidity": dec(inst.liquidity),
            "prev_close": dec(inst.prev_close)}


def account_view(sim: SimulatorRuntime, account_id: str) -> dict[str, Any]:
    account = sim.exchange.state.accounts[account_id]
    today = sim.exchange.state.clock.today()
    return {
        "id": account.id, "type": account.type.value, "cash": dec(account.cash),
        "settled_cash": dec(account.settled_cash(today)), "fees_paid": dec(account.fees_paid),
        "pattern_day_trader": account.pattern_day_trader, "day_trade_count": account.day_trade_count(today),
        "positions": {s: {"qty": dec(p.qty), "avg_entry_price": dec(p.avg_entry_price)}
                      for s, p in account.positions.items()},
        "keys": sorted(k for k, (_, a) in sim.credentials.keys.items() if a == account_id),
    }


@admin
async def health(request: Request) -> Response:
    return _ok({"ok": True})


@admin
async def state(request: Request) -> Response:
    sim = _sim(request)
    st = sim.exchange.state
    return _ok({"clock": clock_view(sim), "faults": sim.faults.settings.model_dump(),
                "quirks": dataclasses.asdict(st.quirks), "stream_connections": len(sim.hub.connections),
                "accounts": [account_view(sim, a) for a in st.accounts],
                "instruments": [instrument_view(sim, s) for s in st.instruments]})


@admin
async def reset(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    sim.reset(body.get("seed"))
    return _ok({"reset": True, "seed": sim.config.seed})


@admin
async def clock_get(request: Request) -> Response:
    return _ok(clock_view(_sim(request)))


@admin
async def clock_advance(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    clock = sim.exchange.state.clock
    until = body.get("until")
    if until is None:
        ticks = sim.exchange.advance(Decimal(str(body.get("seconds", 1))))
    else:
        target = {"open": clock.next_open, "close": clock.next_close}.get(until)
        moment = target() if target else parse_time(str(until), "until")
        assert moment is not None
        ticks = advance_to(sim.exchange.state, moment)
    return _ok({**clock_view(sim), "ticks": ticks})


@admin
async def autotick(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    sim.autotick_enabled = bool(body.get("enabled", sim.autotick_enabled))
    sim.autotick_interval = float(body.get("interval_s", sim.autotick_interval))
    return _ok(clock_view(sim))


@admin
async def prices(request: Request) -> Response:
    sim = _sim(request)
    return _ok([instrument_view(sim, s) for s in sim.exchange.state.instruments])


@admin
async def set_price(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    symbol = request.path_params["symbol"]
    sim.exchange.set_price(symbol, Decimal(str(body["price"])), _dec(body.get("volatility")))
    return _ok(instrument_view(sim, symbol))


@admin
async def set_liquidity(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    symbol = request.path_params["symbol"]
    sim.exchange.set_liquidity(symbol, _dec(body.get("per_tick")))
    return _ok(instrument_view(sim, symbol))


@admin
async def accounts(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "POST":
        cfg = AccountConfig.model_validate(await _body(request))
        sim.add_account(cfg)
        return _ok(account_view(sim, cfg.id), 201)
    return _ok([account_view(sim, a) for a in sim.exchange.state.accounts])


@admin
async def tokens(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    account_id = str(body["account_id"])
    if account_id not in sim.exchange.state.accounts:
        raise KeyError(f"unknown account {account_id}")
    ttl = body.get("ttl_seconds")
    token = sim.credentials.add_token(account_id, body.get("token"), float(ttl) if ttl is not None else None)
    # Tradier's refresh grant (POST /v1/oauth/refreshtoken) takes this with the OAuth client's Basic auth.
    named = body.get("client_id")
    client_id = sim.oauth.client(str(named) if named else None) if named or sim.oauth.has_clients else None
    refresh = None if client_id is None else sim.oauth.add_refresh_token(
        account_id, client_id, float(ttl) if ttl is not None else None)
    return _ok({"token": token, "account_id": account_id, "ttl_seconds": ttl, "refresh_token": refresh,
                "client_id": client_id}, 201)


@admin
async def expire_token(request: Request) -> Response:
    body = await _body(request)
    sim = _sim(request)
    token = str(body["token"])
    found = sim.credentials.expire(token)
    closed = sim.hub.disconnect_token(token) if body.get("close_streams", True) else 0
    return _ok({"expired": found, "streams_closed": closed})


@admin
async def faults(request: Request) -> Response:
    sim = _sim(request)
    if request.method == "DELETE":
        sim.faults.clear()
    elif request.method in ("PUT", "POST", "PATCH"):
        sim.faults.update(await _body(request))
    return _ok({**sim.faults.settings.model_dump(), "dropped": sim.faults.dropped})


@admin
async def quirks(request: Request) -> Response:
    sim = _sim(request)
    current = sim.exchange.state.quirks
    if request.method != "GET":
        body = await _body(request)
        unknown = set(body) - {f.name for f in dataclasses.fields(current)}
        if unknown:
            raise ValueError(f"unknown quirks: {sorted(unknown)}")
        checked = {name: _quirk_value(name, getattr(current, name), value) for name, value in body.items()}
        for name, value in checked.items():
            setattr(current, name, value)
    return _ok(dataclasses.asdict(current))


def _quirk_value(name: str, current: object, value: object) -> object:
    """The new value of a quirk, of the quirk's own type (a bad value changes nothing)."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"quirk {name} takes true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"quirk {name} takes a number >= 0")
    return value if isinstance(current, float) else int(value)


@admin
async def stream_disconnect(request: Request) -> Response:
    body = await _body(request)
    closed = _sim(request).hub.disconnect_all(float(body.get("refuse_seconds", 0)))
    return _ok({"closed": closed})


@admin
async def stream_lose(request: Request) -> Response:
    """Lose the next `events` trade events silently (the socket stays open): what a broker's stream can do."""
    body = await _body(request)
    events = body.get("events", 1)
    if isinstance(events, bool) or not isinstance(events, int) or events < 0:
        raise ValueError("events takes a whole number >= 0")
    hub = _sim(request).hub
    hub.lose_next = events
    return _ok({"losing": hub.lose_next, "lost": hub.lost})


@admin
async def orders(request: Request) -> Response:
    """The broker's own view: every order and every submission, grouped per client order id."""
    sim = _sim(request)
    account_id = request.query_params.get("account_id")
    listed = [o for o in sim.exchange.state.orders.values() if account_id in (None, o.account_id)]
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rendered = []
    tradier = getattr(request.app.state, "tradier", None)
    for order in listed:
        # Orders placed through Tradier's API are known by their tag (Tradier has no client order id).
        tag = tradier.book.tag_of(order.id) if tradier is not None else None
        item = {**order_json(order), "account_id": order.account_id, "tradier_tag": tag}
        rendered.append(item)
        by_client[order.client_order_id].append(item)
    submissions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sub in sim.submissions:
        if account_id in (None, sub.account_id):
            record = {**dataclasses.asdict(sub), "received_at": ts(sub.received_at)}
            submissions[sub.client_order_id or ""].append(record)
    return _ok({"orders": rendered, "by_client_order_id": by_client, "submissions": submissions,
                "dropped_responses": sim.faults.dropped})


@admin
async def events(request: Request) -> Response:
    sim = _sim(request)
    account_id = request.query_params.get("account_id")
    after = int(request.query_params.get("after_seq", "0"))
    history = [e for e in sim.exchange.state.events.history
               if e.seq > after and account_id in (None, e.order.account_id)]
    return _ok([{"seq": e.seq, "account_id": e.order.account_id, **event_json(e)["data"]} for e in history])


@admin
async def activities(request: Request) -> Response:
    sim = _sim(request)
    account_id = request.query_params.get("account_id")
    return _ok([{**activity_json(a), "account_id": a.account_id} for a in sim.exchange.state.activities
                if account_id in (None, a.account_id)])


def admin_routes() -> list[Route]:
    return [
        Route("/_sim/health", health, methods=["GET"]),
        Route("/_sim/state", state, methods=["GET"]),
        Route("/_sim/reset", reset, methods=["POST"]),
        Route("/_sim/clock", clock_get, methods=["GET"]),
        Route("/_sim/clock/advance", clock_advance, methods=["POST"]),
        Route("/_sim/autotick", autotick, methods=["POST"]),
        Route("/_sim/prices", prices, methods=["GET"]),
        Route("/_sim/prices/{symbol}", set_price, methods=["POST", "PUT"]),
        Route("/_sim/liquidity/{symbol}", set_liquidity, methods=["POST", "PUT"]),
        Route("/_sim/accounts", accounts, methods=["GET", "POST"]),
        Route("/_sim/tokens", tokens, methods=["POST"]),
        Route("/_sim/tokens/expire", expire_token, methods=["POST"]),
        Route("/_sim/faults", faults, methods=["GET", "PUT", "POST", "PATCH", "DELETE"]),
        Route("/_sim/quirks", quirks, methods=["GET", "PUT", "POST", "PATCH"]),
        Route("/_sim/stream/disconnect", stream_disconnect, methods=["POST"]),
        Route("/_sim/stream/lose", stream_lose, methods=["POST"]),
        Route("/_sim/orders", orders, methods=["GET"]),
        Route("/_sim/events", events, methods=["GET"]),
        Route("/_sim/activities", activities, methods=["GET"]),
    ]
