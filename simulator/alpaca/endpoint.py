"""The wrapper every /v2 route runs in: authenticate, rate-limit, map exchange rejections to Alpaca errors."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.alpaca.auth import Identity
from simulator.alpaca.errors import RATE_LIMITED, UNAUTHORIZED, AlpacaError, from_rejection
from simulator.core.model import Rejection

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["Handler", "endpoint", "parse_time", "read_json", "truthy"]

Handler = Callable[[Request, Identity, "SimulatorRuntime"], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn `handler(request, identity, sim)` into a Starlette endpoint with Alpaca's auth and errors."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        sim: SimulatorRuntime = request.app.state.sim
        identity = sim.credentials.from_headers(request.headers)
        if identity is None or identity.account_id not in sim.exchange.state.accounts:
            return UNAUTHORIZED.response()
        sim.limiter.per_minute = sim.rate_limit()
        allowed, headers = sim.limiter.hit(identity.principal)
        if not allowed:
            response: Response = RATE_LIMITED.response()
        else:
            try:
                response = await handler(request, identity, sim)
            except AlpacaError as error:
                response = error.response()
            except Rejection as rejection:
                response = from_rejection(rejection).response()
        response.headers.update(headers)
        response.headers["X-Request-ID"] = uuid.uuid4().hex
        return response

    return wrapped


async def read_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise AlpacaError(400, 40010000, "request body format is invalid") from None


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def parse_time(value: str | None, field: str) -> datetime | None:
    """Accept RFC 3339 (any offset, Z, up to nanoseconds) or YYYY-MM-DD."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace(" ", "+")
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits):]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AlpacaError(422, 40010001, f"invalid {field}: {value}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
