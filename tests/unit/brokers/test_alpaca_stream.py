"""The trade_updates stream with a scripted WebSocket: handshake, binary frames, reconnect with a gap marker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosedError

from brokers.alpaca.client import AlpacaAuth
from brokers.alpaca.config import AlpacaConfig
from brokers.alpaca.errors import AlpacaAuthenticationError
from brokers.alpaca.schemas import AlpacaTradeUpdate
from brokers.alpaca.stream import AlpacaTradeStream, StreamGap, decode_frame

from .conftest import load

HANDSHAKE = load("stream_handshake")


class FakeSocket:
    """Replies to auth and listen, then plays `frames`; ends with a drop unless `clean`."""

    def __init__(self, frames: list[str | bytes], *, authorized: bool = True, clean: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self._replies = [json.dumps(HANDSHAKE["authorized" if authorized else "unauthorized"]).encode(),
                         json.dumps(HANDSHAKE["listening"]).encode()]
        self._frames = frames
        self._clean = clean

    async def __aenter__(self) -> FakeSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str | bytes:
        return self._replies.pop(0)

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        for frame in self._frames:
            yield frame
        if not self._clean:
            raise ConnectionClosedError(None, None)


class Connector:
    def __init__(self, *sockets: FakeSocket) -> None:
        self.sockets = list(sockets)
        self.urls: list[str] = []

    def __call__(self, url: str, **kwargs: Any) -> FakeSocket:
        self.urls.append(url)
        if not self.sockets:
            raise OSError("refused")
        return self.sockets.pop(0)


async def no_sleep(seconds: float) -> None:
    return None


def messages() -> list[dict[str, Any]]:
    return load("trade_updates")


def stream(connector: Connector, auth: AlpacaAuth | None = None) -> AlpacaTradeStream:
    return AlpacaTradeStream("ws://sim/stream", auth or AlpacaAuth(key_id="K", secret_key="S"), AlpacaConfig(),
                             connector=connector, sleep=no_sleep)


def test_frames_may_be_binary_text_or_lists() -> None:
    message = messages()[0]
    assert decode_frame(json.dumps(message).encode()) == [message]
    assert decode_frame(json.dumps([message, message])) == [message, message]


async def test_authenticates_listens_and_yields_updates() -> None:
    socket = FakeSocket([json.dumps(m).encode() for m in messages()[:3]])
    updates = stream(Connector(socket)).updates()
    received = [await anext(updates) for _ in range(3)]
    await updates.aclose()
    assert all(isinstance(u, AlpacaTradeUpdate) for u in received)
    assert socket.sent[0] == {"action": "authenticate", "data": {"key_id": "K", "secret_key": "S"}}
    assert socket.sent[1] == {"action": "listen", "data": {"streams": ["trade_updates"]}}


async def test_oauth_stream_auth() -> None:
    socket = FakeSocket([json.dumps(messages()[0])])
    updates = stream(Connector(socket), AlpacaAuth(oauth_token="T")).updates()
    await anext(updates)
    await updates.aclose()
    assert socket.sent[0] == {"action": "authenticate", "data": {"oauth_token": "T"}}


async def test_refused_auth_ends_the_stream() -> None:
    updates = stream(Connector(FakeSocket([], authorized=False))).updates()
    with pytest.raises(AlpacaAuthenticationError):
        await anext(updates)


async def test_reconnect_yields_a_gap_before_new_updates() -> None:
    first = FakeSocket([json.dumps(messages()[0])])
    second = FakeSocket([json.dumps(messages()[1])])
    connector = Connector(first, second)
    trade_stream = stream(connector)
    updates = trade_stream.updates()
    items = [await anext(updates) for _ in range(3)]
    await updates.aclose()
    assert isinstance(items[0], AlpacaTradeUpdate) and isinstance(items[1], StreamGap)
    assert isinstance(items[2], AlpacaTradeUpdate) and trade_stream.reconnects == 1
    assert connector.urls == ["ws://sim/stream", "ws://sim/stream"]


async def test_unreadable_update_forces_a_resync() -> None:
    bad = FakeSocket([json.dumps({"stream": "trade_updates", "data": {"event": "fill"}})], clean=True)
    good = FakeSocket([json.dumps(messages()[4])])
    updates = stream(Connector(FakeSocket([json.dumps(messages()[0])], clean=True), bad, good)).updates()
    items = [await anext(updates) for _ in range(4)]
    await updates.aclose()
    assert [type(i).__name__ for i in items] == ["AlpacaTradeUpdate", "StreamGap", "StreamGap", "AlpacaTradeUpdate"]
