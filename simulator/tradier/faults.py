"""The fault switches of /_sim/faults applied to Tradier's /v1 API, with Tradier-shaped error bodies.

Same FaultState as the Alpaca front end (one admin API for both); the drop fault is shared code.
"""

from __future__ import annotations

import asyncio
import json

from simulator.faults import FaultMiddleware, Receive, Scope, Send, _matches

__all__ = ["TradierFaultMiddleware", "is_tradier_path"]

_5XX = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def is_tradier_path(path: str) -> bool:
    """Tradier's REST paths (Alpaca's market data /v1beta* paths are not Tradier's)."""
    return path.startswith("/v1/")


async def _send(send: Send, status: int, message: str) -> None:
    payload = json.dumps({"errors": {"error": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class TradierFaultMiddleware(FaultMiddleware):
    """Latency, 5xx, 429 bursts and dropped responses on /v1 paths; everything else passes through."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_tradier_path(str(scope["path"])):
            await self.app(scope, receive, send)
            return
        settings = self.faults.settings
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000)
        if settings.burst_429 > 0:
            settings.burst_429 -= 1
            await _send(send, 429, "Rate limit exceeded")
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
