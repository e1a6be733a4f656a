"""The trade_updates WebSocket: connect, authenticate, listen, decode (text or binary frames), reconnect.

After every reconnect the stream yields a StreamGap before the next update, naming when it last heard
from Alpaca, so the gateway can fetch the fills of the gap from the account activities.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, WebSocketException

from .client import AlpacaAuth
from .config import AlpacaConfig
from .errors import AlpacaAuthenticationError
from .schemas import AlpacaTradeUpdate

__all__ = ["AlpacaTradeStream", "StreamGap", "StreamItem", "decode_frame"]

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, the authenticate frame (key, secret or token) included: its logger
# for our connections stays at INFO whatever the root level, so no frame content ever reaches a log.
_WS_LOG = logging.getLogger(f"{__name__}.websocket")
_WS_LOG.setLevel(logging.INFO)

LISTEN = {"action": "listen", "data": {"streams": ["trade_updates"]}}
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class StreamGap:
    """The stream was down; events after `since` (local clock) may have been missed."""

    since: datetime
    reconnected_at: datetime


StreamItem = AlpacaTradeUpdate | StreamGap


class _Resync(Exception):
    """A frame we could not read: reconnect at once, so the gap is fetched rather than lost."""


def decode_frame(frame: str | bytes) -> list[dict[str, Any]]:
    """The JSON messages of one frame (binary frames carry UTF-8 JSON; a frame may hold a list)."""
    text = frame.decode("utf-8") if isinstance(frame, bytes | bytearray | memoryview) else frame
    try:
        payload = json.loads(text)
    except RecursionError:  # a hostile frame nested thousands deep: unreadable, like any bad JSON
        raise ValueError("frame nested too deeply") from None
    items = payload if isinstance(payload, list) else [payload]
    return [item for item in items if isinstance(item, dict)]


def _status(message: dict[str, Any]) -> str | None:
    data = message.get("data")
    return data.get("status") if isinstance(data, dict) else None


def _fixed(auth: AlpacaAuth) -> Callable[[], AlpacaAuth]:
    return lambda: auth


class AlpacaTradeStream:
    """One key's trade_updates stream; iterate `updates()` for updates and gap markers."""

    def __init__(self, url: str, auth: AlpacaAuth | Callable[[], AlpacaAuth], config: AlpacaConfig | None = None, *,
                 connector: Callable[..., Any] = connect,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.url = url
        self.config = config or AlpacaConfig()
        # A callable is asked at every connect, so a reconnect after a token refresh uses the new token.
        self._auth = _fixed(auth) if isinstance(auth, AlpacaAuth) else auth
        self._connector = connector
        self._sleep = sleep
        self._clock = clock
        self._closed = False
        self.last_heard: datetime | None = None
        self.reconnects = 0

    def close(self) -> None:
        """Stop after the current frame."""
        self._closed = True

    async def updates(self) -> AsyncIterator[StreamItem]:
        """Yield trade updates forever, reconnecting with backoff; auth refusal ends the iteration."""
        failures = 0
        while not self._closed:
            try:
                async for item in self._session():
                    failures = 0
                    yield item
            except _Resync:
                pass
            except (OSError, TimeoutError, WebSocketException) as exc:
                if isinstance(exc, InvalidHandshake):
                    log.warning("alpaca stream handshake refused: %s", type(exc).__name__)
            if self._closed:
                return
            failures += 1
            await self._sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        base = min(self.config.stream_backoff_initial * 2 ** (failures - 1), self.config.stream_backoff_max)
        return float(base * random.uniform(0.5, 1.0))

    async def _session(self) -> AsyncIterator[StreamItem]:
        ping = self.config.stream_ping_interval
        async with self._connector(self.url, ping_interval=ping, ping_timeout=ping * 2, max_queue=1024,
                                   open_timeout=HANDSHAKE_TIMEOUT, logger=_WS_LOG) as ws:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):  # not wait_for: see the Tradier stream's reader
                pending = await self._handshake(ws)
            gap_since, self.last_heard = self.last_heard, self._clock()
            if gap_since is not None:
                self.reconnects += 1
                yield StreamGap(since=gap_since, reconnected_at=self.last_heard)
            for message in pending:
                yield self._update(message)
            async for frame in ws:
                received = self._clock()
                for message in self._messages(frame):
                    yield self._update(message)
                # Only a frame read in full moves the mark, so a resync refetches the frame it failed on.
                self.last_heard = received
                if self._closed:
                    return

    async def _handshake(self, ws: ClientConnection) -> list[dict[str, Any]]:
        """Authenticate and listen; return trade updates that arrived before the listen ack."""
        await ws.send(json.dumps(self._auth().stream_auth_message()))
        reply = self._handshake_reply(await ws.recv())
        if not any(m.get("stream") == "authorization" and _status(m) == "authorized" for m in reply):
            raise AlpacaAuthenticationError("trade_updates stream: not authorized")
        await ws.send(json.dumps(LISTEN))
        early: list[dict[str, Any]] = []
        while True:
            for message in self._handshake_reply(await ws.recv()):
                if message.get("stream") == "listening":
                    return early
                if message.get("stream") == "trade_updates":
                    early.append(message)

    @staticmethod
    def _handshake_reply(frame: str | bytes) -> list[dict[str, Any]]:
        try:
            return decode_frame(frame)
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            log.warning("alpaca stream: unreadable handshake reply; reconnecting")
            raise _Resync from None

    def _messages(self, frame: str | bytes) -> list[dict[str, Any]]:
        try:
            messages = decode_frame(frame)
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            log.error("alpaca stream: unreadable frame; resyncing")
            raise _Resync from None
        for message in messages:
            if message.get("action") == "error" or message.get("stream") == "error":
                log.warning("alpaca stream error message: %s", message.get("data"))
        return [m for m in messages if m.get("stream") == "trade_updates"]

    def _update(self, message: dict[str, Any]) -> AlpacaTradeUpdate:
        try:
            return AlpacaTradeUpdate.model_validate(message.get("data"))
        except ValidationError:
            log.error("alpaca stream: trade update of unknown shape; resyncing")
            raise _Resync from None
