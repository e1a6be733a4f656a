"""Run-time faults for the broker's HTTP API: latency, 5xx answers, 429 bursts, dropped responses, slow acks.

Only paths under /v2 are affected, except `ack_delay_ms`, which delays every order submission (Alpaca's
POST /v2/orders, Tradier's POST /v1/accounts/{id}/orders, Binance's POST /api/v3/order); the /_sim admin API
and the stream are never faulted here (stream drops are the hub's job).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["FaultMiddleware", "FaultSettings", "FaultState"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_5XX_CODES = {500: (50010000, "internal server error"), 502: (50210000, "bad gateway"),
              503: (50310000, "service unavailable"), 504: (50410000, "gateway timeout")}


class FaultSettings(BaseModel):
    """What is currently broken; counters are consumed one request at a time."""

    latency_ms: float = 0
    error_rate: float = 0.0
    error_status: int = 503
    error_match: str = ""
    burst_429: int = 0
    drop_responses: int = 0
    drop_mode: Literal["close", "delay"] = "close"
    drop_delay_s: float = 30.0
    drop_match: str = "POST /v2/orders"
    rate_limit_per_minute: int | None = None
    ack_delay_ms: float = Field(default=0, ge=0, le=60_000)


class FaultState:
    """The live settings plus a seeded generator, so error sequences repeat for a given seed."""

    def __init__(self, seed: int) -> None:
        self.settings = FaultSettings()
        self.rng = random.Random(seed)
        self.dropped: list[dict[str, Any]] = []

    def update(self, changes: dict[str, Any]) -> FaultSettings:
        self.settings = FaultSettings.model_validate({**self.settings.model_dump(), **changes})
        return self.settings

    def clear(self) -> None:
        self.settings = FaultSettings()

    def reset(self, seed: int) -> None:
        """Clear settings and history, reseed (the middleware keeps this same object)."""
        self.clear()
        self.rng = random.Random(seed)
        self.dropped.clear()


def _matches(rule: str, scope: Scope) -> bool:
    """`"POST /v2/orders"` matches that method and path prefix; `""` matches everything."""
    if not rule:
        return True
    method, _, prefix = rule.partition(" ")
    if not prefix:
        method, prefix = "", method
    return (not method or scope["method"] == method.upper()) and str(scope["path"]).startswith(prefix)


def _is_submission(scope: Scope) -> bool:
    path = str(scope["path"]).rstrip("/")
    if scope["method"] != "POST":
        return False
    if path == "/api/v3/order":  # Binance spot
        return True
    return path == "/v2/orders" or (path.startswith("/v1/accounts/") and path.endswith("/orders"))


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=UTF-8"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class FaultMiddleware:
    """ASGI middleware in front of the Alpaca routes; must wrap the app directly under the server."""

    def __init__(self, app: ASGIApp, faults: FaultState) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.faults.settings.ack_delay_ms > 0 and _is_submission(scope):
            # The broker takes its time to acknowledge: the order is accepted, the answer comes late.
            await asyncio.sleep(self.faults.settings.ack_delay_ms / 1000)
        if scope["type"] != "http" or not scope["path"].startswith("/v2"):
            await self.app(scope, receive, send)
            return
        settings = self.faults.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if settings.burst_429 > 0:
            settings.burst_429 -= 1
            await _send_json(send, 429, {"code": 42910000, "message": "rate limit exceeded"})
            return
        if settings.error_rate > 0 and _matches(settings.error_match, scope) \
                and self.faults.rng.random() < settings.error_rate:
            code, message = _5XX_CODES.get(settings.error_status, (50010000, "internal server error"))
            await _send_json(send, settings.error_status, {"code": code, "message": message})
            return
        if settings.drop_responses > 0 and _matches(settings.drop_match, scope):
            settings.drop_responses -= 1
            await self._drop(scope, receive, send, settings)
            return
        await self.app(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send, settings: FaultSettings) -> None:
        """Process the request for real, then lose the answer: close the connection or answer too late."""
        held: list[Message] = []

        async def keep(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, keep)
        status = next((m.get("status") for m in held if m["type"] == "http.response.start"), None)
        self.faults.dropped.append({"method": scope["method"], "path": scope["path"], "status": status,
                                    "mode": settings.drop_mode})
        if settings.drop_mode == "delay":
            await asyncio.sleep(settings.drop_delay_s)
            for message in held:
                await send(message)
            return
        await _abort(send)


async def _abort(send: Send) -> None:
    """Close the TCP connection without a response (uvicorn's send is bound to its request cycle)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        for _ in range(3):
            await asyncio.sleep(0)  # let connection_lost run so the server does not answer 500
        return
    # Unknown server: start a response that promises more body than it will ever get.
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
    raise ConnectionAbortedError("response dropped by fault injection")
