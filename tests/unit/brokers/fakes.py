"""Scripted Alpaca for the gateway tests: REST routes over httpx.MockTransport and WebSockets fed by the test."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosedError

from domain.broker_integration import ConnectionCredentials

from .conftest import load

KEYS = ConnectionCredentials(api_key="PKTEST", api_secret=SecretStr("secret-value"))
Route = Callable[[httpx.Request], httpx.Response]
HANDSHAKE = load("stream_handshake")


class Broker:
    """A scripted Alpaca: routes by 'METHOD path', records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {"GET /v2/account": lambda r: httpx.Response(200, json=load("account"))}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(f"{request.method} {request.url.path}")
        return route(request) if route else httpx.Response(404, json={"code": 40410000, "message": "not found"})

    def seen(self, key: str) -> list[httpx.Request]:
        return [r for r in self.requests if f"{r.method} {r.url.path}" == key]


def order_json(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(load("orders_by_status")["new"])
    data.update(fields)
    return data


class LiveSocket:
    """A trade_updates socket the test feeds: `push` a frame, `drop` the connection."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self._replies = [json.dumps(HANDSHAKE["authorized"]), json.dumps(HANDSHAKE["listening"])]
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()

    async def __aenter__(self) -> LiveSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str | bytes:
        return self._replies.pop(0)

    def push(self, *messages: dict[str, Any]) -> None:
        for message in messages:
            self._frames.put_nowait(json.dumps(message))

    def drop(self) -> None:
        self._frames.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[str]:
        while (frame := await self._frames.get()) is not None:
            yield frame
        raise ConnectionClosedError(None, None)


class Sockets:
    """A connector handing out the given sockets in turn; refuses once they are used up."""

    def __init__(self, *sockets: Any) -> None:
        self.sockets = list(sockets)

    def __call__(self, url: str, **kwargs: Any) -> Any:
        if not self.sockets:
            raise OSError("refused")
        return self.sockets.pop(0)
