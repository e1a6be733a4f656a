"""The fault switches of /_sim/faults applied to Binance's /api paths, with Binance-shaped error bodies.

Same FaultState as the other front ends (one admin API for all); the drop fault is shared code, so
`drop_match="POST /api/v3/order"` loses the answer of an order that was placed.
"""

from __future__ import annotations

import asyncio
import json

from simulator.faults import FaultMiddleware, Receive, Scope, Send, _matches

__all__ = ["BinanceFaultMiddleware", "is_binance_path"]

_INTERNAL = (-1001, "Internal error; unable to process your request. Please try again.")


def is_binance_path(path: str) -> bool:
    """Binance's REST paths (spot `/api/v3/...`)."""
    return path.startswith("/api/")


async def _send(send: Send, status: int, code: int, msg: str) -> None:
    payload = json.dumps({"code": code, "msg": msg}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json;charset=UTF-8"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class BinanceFaultMiddleware(FaultMiddleware):
    """Latency, 5xx, 429 bursts and dropped responses on /api paths; everything else passes through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_binance_path(str(scope["path"])):
            await self.app(scope, receive, send)
            return
        settings = self.faults.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if settings.burst_429 > 0:
            settings.burst_429 -= 1
            await _send(send, 429, -1003, "Too many requests; please use the websocket for live updates.")
            return
        if settings.error_rate > 0 and _matches(settings.error_match, scope) \
                and self.faults.rng.random() < settings.error_rate:
            await _send(send, settings.error_status, *_INTERNAL)
            return
        if settings.drop_responses > 0 and _matches(settings.drop_match, scope):
            settings.drop_responses -= 1
            await self._drop(scope, receive, send, settings)
            return
        await self.app(scope, receive, send)
