"""The account events WebSocket: create a session (REST), connect, subscribe, read, reconnect.

Tradier replays nothing after a drop. After every reconnect the stream yields a StreamGap naming when
it last heard from Tradier, so the gateway can re-read the orders it saw working.
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

from .config import TradierConfig
from .errors import TradierAuthenticationError, TradierError
from .schemas import TradierAccountEvent

__all__ = ["StreamGap", "TradierEventStream", "subscription"]

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, the subscription (with its session id) included: keep it at INFO.
_WS_LOG = logging.getLogger(f"{__name__}.websocket")
_WS_LOG.setLevel(logging.INFO)

HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class StreamGap:
    """The stream was down; events after `since` (local clock) may have been missed."""

    since: datetime
    reconnected_at: datetime


StreamItem = TradierAccountEvent | StreamGap


class _Resync(Exception):
    """A message we could not read, or a refused session: reconnect with a new session."""


def subscription(session_id: str) -> dict[str, Any]:
    """The payload that starts (or changes) the subscription: order events of every account."""
    return {"events": ["order"], "sessionid": session_id, "excludeAccounts": []}


class TradierEventStream:
    """One token's account events; iterate `updates()` for order events and gap markers."""

    def __init__(self, url: str, new_session: Callable[[], Awaitable[str]], config: TradierConfig | None = None, *,
                 connector: Callable[..., Any] = connect,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.url = url
        self.config = config or TradierConfig()
        self._new_session = new_session
        self._connector = connector
        self._sleep = sleep
        self._clock = clock
        self._closed = False
        self.last_heard: datetime | None = None
        self.reconnects = 0

    def close(self) -> None:
        """Stop after the current message."""
        self._closed = True

    async def updates(self) -> AsyncIterator[StreamItem]:
        """Yield order events forever, reconnecting with backoff; a refused token ends the iteration."""
        failures = 0
        while not self._closed:
            try:
                async for item in self._session():
                    failures = 0
                    yield item
            except TradierAuthenticationError:
                raise
            except (_Resync, TradierError):
                pass
            except (OSError, TimeoutError, WebSocketException) as exc:
                if isinstance(exc, InvalidHandshake):
                    log.warning("tradier stream handshake refused: %s", type(exc).__name__)
            if self._closed:
                return
            failures += 1
            await self._sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        base = min(self.config.stream_backoff_initial * 2 ** (failures - 1), self.config.stream_backoff_max)
        return float(base * random.uniform(0.5, 1.0))

    async def _session(self) -> AsyncIterator[StreamItem]:
        session_id = await self._new_session()  # valid 5 minutes: created right before connecting
        ping = self.config.stream_ping_interval
        async with self._connector(self.url, ping_interval=ping, ping_timeout=ping * 2, max_queue=1024,
                                   open_timeout=HANDSHAKE_TIMEOUT, logger=_WS_LOG) as ws:
            await ws.send(json.dumps(subscription(session_id)))
            gap_since, self.last_heard = self.last_heard, self._clock()
            if gap_since is not None:
                self.reconnects += 1
                yield StreamGap(since=gap_since, reconnected_at=self.last_heard)
            async for message in self._messages(ws):
                yield message
                if self._closed:
                    return

    async def _messages(self, ws: ClientConnection) -> AsyncIterator[TradierAccountEvent]:
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that arrives as the
            # frame does, and this loop then runs on and its stopper waits forever (a test hung so).
            async with asyncio.timeout(self.config.stream_idle_timeout):
                frame = await ws.recv()
            received = self._clock()
            message = self._decode(frame)
            if message.get("event") == "order":
                yield self._event(message)
            elif "error" in message:
                log.warning("tradier stream error: %s", str(message.get("error"))[:200])
                raise _Resync
            # Only a message read in full moves the mark, so a resync re-reads what it failed on.
            self.last_heard = received

    @staticmethod
    def _decode(frame: str | bytes) -> dict[str, Any]:
        try:
            text = frame.decode("utf-8") if isinstance(frame, bytes | bytearray | memoryview) else frame
            message = json.loads(text)
        except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
            log.error("tradier stream: unreadable message; resyncing")
            raise _Resync from None
        if not isinstance(message, dict):
            raise _Resync
        return message

    @staticmethod
    def _event(message: dict[str, Any]) -> TradierAccountEvent:
        try:
            return TradierAccountEvent.model_validate(message)
        except ValidationError:
            log.error("tradier stream: order event of unknown shape; resyncing")
            raise _Resync from None
