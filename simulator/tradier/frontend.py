"""The Tradier front end's state and request wrapper: bearer tokens, rate limits, Accept-driven JSON or XML.

Errors are `{"errors": {"error": "msg"}}` (or a list of messages); an unknown token is a plain-text 401.
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from simulator.alpaca.auth import Identity, RateLimiter
from simulator.core import Account, Rejection, RejectKind
from simulator.tradier.book import TradierBook
from simulator.tradier.wire import xml_document

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["TradierError", "TradierFrontEnd", "endpoint", "form", "frontend", "render", "tradier_routes"]

SESSION_TTL = 300.0  # an events session id must be used within 5 minutes
_REJECTION_STATUS = {RejectKind.NOT_FOUND: 404}


class TradierError(Exception):
    """An error answer: HTTP status and Tradier's message(s)."""

    def __init__(self, status: int, *messages: str) -> None:
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = list(messages)

    def body(self) -> dict[str, Any]:
        errors: str | list[str] = self.messages[0] if len(self.messages) == 1 else self.messages
        return {"errors": {"error": errors}}


def from_rejection(rejection: Rejection) -> TradierError:
    if rejection.kind is RejectKind.NOT_CANCELABLE:
        return TradierError(400, f"order already in finalized state: {rejection.message}")
    return TradierError(_REJECTION_STATUS.get(rejection.kind, 400), rejection.message)


class TradierFrontEnd:
    """What the Tradier routes share: the book of the current exchange, event sessions, the rate limiter."""

    def __init__(self, sim: SimulatorRuntime) -> None:
        self.sim = sim
        self.limiter = RateLimiter(sim.rate_limit())
        # session id -> (who opened it, expiry); the token is kept so its expiry can close the socket too
        self.sessions: dict[str, tuple[Identity, float]] = {}
        self._book: TradierBook | None = None

    @property
    def book(self) -> TradierBook:
        """The book of the running exchange (a reset builds a new exchange, so a new book)."""
        if self._book is None or self._book.exchange is not self.sim.exchange:
            self._book = TradierBook(self.sim.exchange, self._publish)
        return self._book

    def _publish(self, account_id: str, event: dict[str, Any]) -> None:
        from simulator.tradier.stream import publish

        publish(self.sim, account_id, event)

    def account(self, number: str, who: Identity) -> Account:
        """The path's account; a token reaches only its own account."""
        account = self.sim.exchange.state.accounts.get(who.account_id)
        if account is None or number not in (account.number, account.id):
            raise TradierError(401, "Invalid account for this access token")
        return account

    def open_session(self, who: Identity) -> str:
        session = secrets.token_hex(16)
        self.sessions[session] = (who, time.time() + SESSION_TTL)
        return session

    def session_identity(self, session_id: str) -> Identity | None:
        """Who opened the events session (account and token), while it is valid."""
        entry = self.sessions.get(session_id)
        if entry is None or time.time() > entry[1] or entry[0].account_id not in self.sim.exchange.state.accounts:
            return None
        return entry[0]


def frontend(request: Request) -> TradierFrontEnd:
    return request.app.state.tradier  # type: ignore[no-any-return]


def render(request: Request, body: dict[str, Any], status: int = 200) -> Response:
    """JSON when the client accepts it, else XML (Tradier's default)."""
    if "json" in request.headers.get("accept", "").lower():
        return Response(json.dumps(body), status, media_type="application/json")
    return Response(xml_document(body), status, media_type="application/xml")


Handler = Callable[[Request, Identity, TradierFrontEnd], Awaitable[dict[str, Any]]]


def _identity(request: Request, sim: SimulatorRuntime) -> Identity | None:
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return None
    return sim.credentials.by_token(authorization[7:].strip())


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn `handler(request, identity, front end) -> body` into a route with Tradier's auth and errors."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        front = frontend(request)
        who = _identity(request, front.sim)
        if who is None or who.account_id not in front.sim.exchange.state.accounts:
            return Response("Invalid Access Token", 401, media_type="text/plain")
        front.limiter.per_minute = front.sim.rate_limit()
        allowed, window = front.limiter.hit(who.principal)
        headers = {"X-Ratelimit-Allowed": window["X-Ratelimit-Limit"],
                   "X-Ratelimit-Used": str(front.limiter.per_minute - int(window["X-Ratelimit-Remaining"])),
                   "X-Ratelimit-Available": window["X-Ratelimit-Remaining"],
                   "X-Ratelimit-Expiry": str(int(window["X-Ratelimit-Reset"]) * 1000)}
        try:
            if not allowed:
                raise TradierError(429, "Rate limit exceeded")
            response = render(request, await handler(request, who, front))
        except TradierError as error:
            response = render(request, error.body(), error.status)
        except Rejection as rejection:
            refused = from_rejection(rejection)
            response = render(request, refused.body(), refused.status)
        response.headers.update(headers)
        return response

    return wrapped


async def form(request: Request) -> dict[str, str]:
    """The form-encoded body (Tradier takes no JSON bodies); the last value of a repeated key wins."""
    if "json" in request.headers.get("content-type", "").lower():
        raise TradierError(400, "Invalid request body: expected application/x-www-form-urlencoded")
    raw = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def tradier_routes() -> list[Any]:
    from simulator.tradier.oauth import oauth_routes
    from simulator.tradier.routes import rest_routes
    from simulator.tradier.stream import stream_routes

    return [*rest_routes(), *oauth_routes(), *stream_routes()]
