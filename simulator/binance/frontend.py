"""The Binance front end's state and request wrappers: API keys, HMAC-SHA256 signatures, recvWindow, errors.

Errors are `{"code": -2010, "msg": "..."}` with Binance's HTTP status (400 for a refused request, 401 for a
bad API key, 429 over the request weight). Signed endpoints take `timestamp` (and `recvWindow`, default
5000 ms, at most 60000) and `signature`, the hex HMAC-SHA256 of the query string concatenated with the
body (without the signature itself), keyed with the API secret; the key travels in `X-MBX-APIKEY`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import Response

from simulator.alpaca.auth import RateLimiter
from simulator.binance.wire import BinanceMarket, market_of, order_json
from simulator.core import Account, Exchange, Rejection, RejectKind, SimOrder, TradeEvent

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["BinanceBook", "BinanceError", "BinanceFrontEnd", "Trade", "binance_routes", "public", "signed"]

MAX_RECV_WINDOW = 60_000
# Binance's REQUEST_WEIGHT limit; every request counts 1 here (the /_sim/faults rate limit overrides it).
WEIGHT_PER_MINUTE = 6000
DEFAULT_RECV_WINDOW = 5_000
_BALANCE = "Account has insufficient balance for requested action."
_REJECTIONS: dict[RejectKind, tuple[int, str]] = {
    RejectKind.DUPLICATE_CLIENT_ID: (-2010, "Duplicate order sent."),
    RejectKind.INSUFFICIENT_BUYING_POWER: (-2010, _BALANCE),
    RejectKind.INSUFFICIENT_QTY: (-2010, _BALANCE),
    RejectKind.SHORT_NOT_ALLOWED: (-2010, _BALANCE),
    RejectKind.PRICE: (-2010, "Stop price would trigger immediately."),
    RejectKind.NOT_FOUND: (-2013, "Order does not exist."),
    RejectKind.NOT_CANCELABLE: (-2011, "Unknown order sent."),
    RejectKind.UNKNOWN_ASSET: (-1121, "Invalid symbol."),
}


class BinanceError(Exception):
    """An error answer: HTTP status, Binance's error code and message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


def from_rejection(rejection: Rejection) -> BinanceError:
    code, msg = _REJECTIONS.get(rejection.kind, (-2010, rejection.message))
    return BinanceError(400, code, msg)


def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


@dataclass(frozen=True)
class Trade:
    """One execution as GET /api/v3/myTrades lists it."""

    id: int
    account_id: str
    symbol: str
    order_id: int
    price: Decimal
    qty: Decimal
    is_buyer: bool
    time: datetime


class BinanceBook:
    """Binance's integer order and trade ids for the core's orders of one exchange, and its trade list."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self._ids: dict[str, int] = {}
        self._core: dict[int, str] = {}
        self._next_order = 1001
        self.trades: list[Trade] = []
        self.user_canceled: set[str] = set()
        for event in exchange.state.events.history:  # fills before the first Binance request
            self._on_event(event)
        exchange.state.events.subscribe(self._on_event)

    def order_id(self, core_id: str) -> int:
        """The order's Binance id, given on first sight (orders of any front end get one)."""
        known = self._ids.get(core_id)
        if known is None:
            known = self._ids[core_id] = self._next_order
            self._core[known] = core_id
            self._next_order += 1
        return known

    def order(self, account_id: str, order_id: int) -> SimOrder | None:
        core = self.exchange.state.orders.get(self._core.get(order_id, ""))
        return core if core is not None and core.account_id == account_id else None

    def by_client_id(self, account_id: str, client_order_id: str) -> SimOrder | None:
        core_id = self.exchange.state.client_ids.get((account_id, client_order_id))
        return self.exchange.state.orders.get(core_id) if core_id else None

    def view(self, order: SimOrder) -> dict[str, Any]:
        return order_json(order, self.order_id(order.id), order.id in self.user_canceled)

    def _on_event(self, event: TradeEvent) -> None:
        if event.event not in ("fill", "partial_fill") or event.qty is None or event.price is None:
            return
        order = event.order
        self.trades.append(Trade(len(self.trades) + 1, order.account_id, order.symbol, self.order_id(order.id),
                                 event.price, event.qty, order.side.value == "buy", event.timestamp))


class BinanceFrontEnd:
    """What the Binance routes share: the book of the current exchange and the request-weight limiter."""

    def __init__(self, sim: SimulatorRuntime) -> None:
        self.sim = sim
        self.limiter = RateLimiter(WEIGHT_PER_MINUTE)
        self._book: BinanceBook | None = None

    @property
    def book(self) -> BinanceBook:
        """The book of the running exchange (a reset builds a new exchange, so a new book)."""
        if self._book is None or self._book.exchange is not self.sim.exchange:
            self._book = BinanceBook(self.sim.exchange)
        return self._book

    def markets(self) -> dict[str, BinanceMarket]:
        """The crypto instruments of the exchange as Binance spot markets."""
        found = {s: market_of(s, getattr(i.spec, "asset_class", "us_equity"))
                 for s, i in self.sim.exchange.state.instruments.items()}
        return {s: m for s, m in found.items() if m is not None}

    def market(self, symbol: str | None) -> BinanceMarket:
        if not symbol:
            raise mandatory("symbol")
        market = self.markets().get(symbol.upper())
        if market is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market


def frontend(request: Request) -> BinanceFrontEnd:
    return request.app.state.binance  # type: ignore[no-any-return]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, media_type="application/json;charset=UTF-8")


def _split_signature(raw: str) -> tuple[str, str | None]:
    """The raw parameter string without `signature`, and the signature."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = unquote(part[len("signature="):])
        else:
            kept.append(part)
    return "&".join(kept), signature


def _check_timestamp(params: dict[str, str]) -> None:
    try:
        stamp = int(params["timestamp"])
    except (KeyError, ValueError):
        raise mandatory("timestamp") from None
    try:
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW))
    except ValueError:
        raise mandatory("recvWindow") from None
    if not 0 < window <= MAX_RECV_WINDOW:
        raise BinanceError(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW + 1}")
    now = int(time.time() * 1000)
    if stamp >= now + 1000:
        raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - stamp > window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


async def _verified(request: Request, front: BinanceFrontEnd) -> tuple[Account, dict[str, str]]:
    key = request.headers.get("x-mbx-apikey", "").strip()
    if not key:
        raise BinanceError(401, -2014, "API-key format invalid.")
    entry = front.sim.credentials.keys.get(key)
    account = front.sim.exchange.state.accounts.get(entry[1]) if entry else None
    if entry is None or account is None:
        raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    query, from_query = _split_signature(request.url.query)
    body, from_body = _split_signature((await request.body()).decode("utf-8", "replace"))
    signature = from_query or from_body
    if not signature:
        raise mandatory("signature")
    expected = hmac.new(entry[0].encode(), (query + body).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(query, keep_blank_values=True))
    params.update(parse_qsl(body, keep_blank_values=True))
    _check_timestamp(params)
    return account, params


def _limited(front: BinanceFrontEnd, principal: str) -> dict[str, str]:
    override = front.sim.faults.settings.rate_limit_per_minute
    front.limiter.per_minute = override if override is not None else WEIGHT_PER_MINUTE
    allowed, window = front.limiter.hit(principal)
    used = front.limiter.per_minute - int(window["X-Ratelimit-Remaining"])
    if not allowed:
        raise BinanceError(429, -1003, "Too many requests; current limit is "
                                       f"{front.limiter.per_minute} requests per minute.")
    return {"X-MBX-USED-WEIGHT-1M": str(used)}


PublicHandler = Callable[[Request, BinanceFrontEnd], Awaitable[Any]]
SignedHandler = Callable[[Request, Account, dict[str, str], BinanceFrontEnd], Awaitable[Any]]


def _answer(call: Callable[[], Awaitable[tuple[Any, dict[str, str]]]]) -> Callable[[], Awaitable[Response]]:
    async def run() -> Response:
        try:
            body, headers = await call()
            return _json(body, headers=headers)
        except BinanceError as error:
            return _json(error.body(), error.status)
        except Rejection as rejection:
            refused = from_rejection(rejection)
            return _json(refused.body(), refused.status)
    return run


def public(handler: PublicHandler) -> Callable[[Request], Awaitable[Response]]:
    """A market data or general endpoint: no key, no signature."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        front = frontend(request)

        async def call() -> tuple[Any, dict[str, str]]:
            headers = _limited(front, f"ip:{request.client.host if request.client else '?'}")
            return await handler(request, front), headers
        return await _answer(call)()

    return wrapped


def signed(handler: SignedHandler) -> Callable[[Request], Awaitable[Response]]:
    """A TRADE or USER_DATA endpoint: API key, signature and timestamp checked before the handler runs."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        front = frontend(request)

        async def call() -> tuple[Any, dict[str, str]]:
            account, params = await _verified(request, front)
            headers = _limited(front, f"key:{request.headers.get('x-mbx-apikey', '')}")
            return await handler(request, account, params, front), headers
        return await _answer(call)()

    return wrapped


def binance_routes() -> list[Any]:
    from simulator.binance.routes import rest_routes

    return rest_routes()
