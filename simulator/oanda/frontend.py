"""The OANDA front end's state and request wrapper: Bearer tokens, account ids, OANDA's error bodies.

Errors are `{"errorCode": ..., "errorMessage": ...}`, joined by the reject transaction and the
`lastTransactionID` where the specification has them. Every answer carries a `RequestID` header.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.alpaca.auth import Identity
from simulator.core import Account, Rejection
from simulator.oanda.ledger import OandaLedger
from simulator.oanda.margin import MarginRates, configured_rates

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["OandaError", "OandaFrontEnd", "endpoint", "frontend", "json_body", "oanda_routes"]

_REQUEST_IDS = itertools.count(24900000000000001)


class OandaError(Exception):
    """An error answer: HTTP status and OANDA's body."""

    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        if self.code is not None:
            body["errorCode"] = self.code
        body["errorMessage"] = self.message
        return body


class OandaFrontEnd:
    """What the OANDA routes share: the ledger of the running exchange."""

    def __init__(self, sim: SimulatorRuntime) -> None:
        self.sim = sim
        self._ledger: OandaLedger | None = None

    @property
    def ledger(self) -> OandaLedger:
        """The ledger of the running exchange (a reset builds a new exchange, so a new ledger)."""
        if self._ledger is None or self._ledger.exchange is not self.sim.exchange:
            margin = MarginRates(configured_rates(self.sim.config))
            self._ledger = OandaLedger(self.sim.exchange, self._publish, margin)
        return self._ledger

    def _publish(self, account_id: str, transaction: dict[str, Any]) -> None:
        from simulator.oanda.stream import publish

        publish(self.sim, account_id, transaction)

    def account(self, account_id: str, who: Identity) -> Account:
        """The path's account (by its v20 id); a token reaches only its own account."""
        account = self.sim.exchange.state.accounts.get(who.account_id)
        if account is None or account_id not in (account.number, account.id):
            raise OandaError(403, "The provided request was forbidden.")
        self.ledger.log(account.id)
        return account


def frontend(request: Request) -> OandaFrontEnd:
    return request.app.state.oanda  # type: ignore[no-any-return]


def _json(body: dict[str, Any], status: int, request_id: str) -> Response:
    return Response(json.dumps(body), status, media_type="application/json",
                    headers={"RequestID": request_id})


Handler = Callable[[Request, Identity, OandaFrontEnd], Awaitable[tuple[int, dict[str, Any]]]]


def identity(request: Request, sim: SimulatorRuntime) -> Identity | None:
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return None
    who = sim.credentials.by_token(authorization[7:].strip())
    return who if who is not None and who.account_id in sim.exchange.state.accounts else None


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn `handler(request, identity, front end) -> (status, body)` into a route with OANDA's auth and errors."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        front = frontend(request)
        request_id = str(next(_REQUEST_IDS))
        who = identity(request, front.sim)
        if who is None:
            return _json({"errorMessage": "Insufficient authorization to perform request."}, 401, request_id)
        ledger = front.ledger
        ledger.request_id = request_id
        try:
            status, body = await handler(request, who, front)
        except OandaError as error:
            status, body = error.status, error.body()
        except Rejection as rejection:
            status, body = 400, {"errorCode": "INVALID", "errorMessage": rejection.message}
        finally:
            ledger.done_placing()
        return _json(body, status, request_id)

    return wrapped


async def json_body(request: Request) -> dict[str, Any]:
    """The JSON body; OANDA answers 400 to anything else."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise OandaError(400, "Invalid JSON in request body", "INVALID_JSON") from None
    if not isinstance(body, dict):
        raise OandaError(400, "The request body must be a JSON object", "INVALID_JSON")
    return body


def oanda_routes() -> list[Any]:
    from simulator.oanda.routes import rest_routes
    from simulator.oanda.stream import stream_routes

    return [*stream_routes(), *rest_routes()]
