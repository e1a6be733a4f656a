"""The fault switches of /_sim/faults applied to OANDA's /v3 API, with OANDA-shaped error bodies.

Same FaultState as the other front ends (one admin API for all); the drop fault is shared code. The
transaction stream is never faulted here (stream drops are the hub's job).
"""

from __future__ import annotations

import asyncio
import json

from simulator.faults import FaultMiddleware, Receive, Scope, Send, _matches

__all__ = ["OandaFaultMiddleware", "is_oanda_path"]

_5XX = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def is_oanda_path(path: str) -> bool:
    """OANDA's REST paths, its transaction stream excluded."""
    return path.startswith("/v3/") and not path.endswith("/transactions/stream")


async def _send(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"errorMessage": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class OandaFaultMiddleware(FaultMiddleware):
    """Latency, 5xx, 429 bursts and dropped responses on /v3 paths; everything else passes through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_oanda_path(str(scope["path"])):
            await self.app(scope, receive, send)
            return
        settings = self.faults.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if settings.burst_429 > 0:
            settings.burst_429 -= 1
            await _send(send, 429, "Rate limit violation")
            return
        if settings.error_rate > 0 and _matches(settings.error_match, scope) \
                and self.faults.rng.random() < settings.error_rate:
            await _send(send, settings.error_status, _5XX.get(settings.error_status, "Internal Server Error"))
            return
        if settings.drop_responses > 0 and _matches(settings.drop_match, scope):
            settings.drop_responses -= 1
            await self._drop(scope, receive, send, settings)
            return
        await self.app(scope, receive, send)
