"""The `trade_updates` WebSocket at /stream: both auth spellings, listen, binary JSON frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket

from simulator.alpaca.auth import Credentials, Identity
from simulator.core.model import TradeEvent

__all__ = ["StreamHub", "stream_endpoint"]

Encoder = Callable[[TradeEvent], dict[str, Any]]
_CLOSE = object()


@dataclass(eq=False)
class StreamConnection:
    websocket: WebSocket
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    identity: Identity | None = None
    streams: list[str] = field(default_factory=list)


class StreamHub:
    """Fans exchange events out to the authenticated, listening connections of the event's account."""

    def __init__(self, encode: Encoder, binary: bool = True) -> None:
        self.encode = encode
        self.binary = binary
        self.connections: set[StreamConnection] = set()
        self.refuse_until = 0.0
        self.lose_next = 0  # a fault: the next events are never sent, the connections stay open
        self.lost: list[dict[str, Any]] = []

    def publish(self, event: TradeEvent) -> None:
        targets = [c for c in self.connections if c.identity and c.identity.account_id == event.order.account_id
                   and "trade_updates" in c.streams]
        if not targets:
            return
        if self.lose_next > 0:
            self.lose_next -= 1
            self.lost.append({"event": event.event, "client_order_id": event.order.client_order_id})
            return
        message = self.encode(event)
        for conn in targets:
            conn.queue.put_nowait(message)

    def disconnect_all(self, refuse_seconds: float = 0.0) -> int:
        """Close every connection; refuse new ones for `refuse_seconds` (wall time)."""
        self.refuse_until = time.time() + refuse_seconds
        for conn in self.connections:
            conn.queue.put_nowait(_CLOSE)
        return len(self.connections)

    def disconnect_token(self, token: str) -> int:
        closing = [c for c in self.connections if c.identity and c.identity.token == token]
        for conn in closing:
            conn.queue.put_nowait(_CLOSE)
        return len(closing)

    def refusing(self) -> bool:
        return time.time() < self.refuse_until


def _authenticate(credentials: Credentials, msg: dict[str, Any]) -> Identity | None:
    if msg.get("action") == "auth":
        return credentials.by_key(msg.get("key"), msg.get("secret"))
    raw = msg.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if "oauth_token" in data:
        return credentials.by_token(data.get("oauth_token"))
    return credentials.by_key(data.get("key_id"), data.get("secret_key"))


def _handle(conn: StreamConnection, credentials: Credentials, msg: Any) -> tuple[dict[str, Any], bool]:
    """Answer one client message; the flag says whether to close afterwards."""
    action = msg.get("action") if isinstance(msg, dict) else None
    if action in ("auth", "authenticate"):
        conn.identity = _authenticate(credentials, msg)
        status = "authorized" if conn.identity else "unauthorized"
        return {"stream": "authorization", "data": {"status": status, "action": "authenticate"}}, not conn.identity
    if action == "listen":
        if conn.identity is None:
            return {"stream": "authorization", "data": {"status": "unauthorized", "action": "listen"}}, False
        streams = (msg.get("data") or {}).get("streams") or []
        conn.streams = [s for s in streams if s == "trade_updates"]
        return {"stream": "listening", "data": {"streams": conn.streams}}, False
    return {"action": "error", "data": {"error_message": "invalid action"}}, False


async def _sender(conn: StreamConnection, binary: bool) -> None:
    while True:
        item = await conn.queue.get()
        if item is _CLOSE:
            await conn.websocket.close(code=1012)
            return
        text = json.dumps(item, separators=(",", ":"))
        if binary:
            await conn.websocket.send_bytes(text.encode())
        else:
            await conn.websocket.send_text(text)


async def stream_endpoint(websocket: WebSocket) -> None:
    """Serve one client: every outgoing frame goes through the connection's queue (a single writer)."""
    sim = websocket.app.state.sim
    hub: StreamHub = sim.hub
    if hub.refusing():
        await websocket.close(code=1013)
        return
    await websocket.accept()
    conn = StreamConnection(websocket)
    hub.connections.add(conn)
    sender = asyncio.create_task(_sender(conn, hub.binary))
    try:
        await _receive_loop(conn, sim.credentials, sender)
    finally:
        hub.connections.discard(conn)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


async def _receive_loop(conn: StreamConnection, credentials: Credentials, sender: asyncio.Task[None]) -> None:
    while not sender.done():
        receiving = asyncio.ensure_future(conn.websocket.receive())
        await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
        if not receiving.done():
            receiving.cancel()
            return
        message = receiving.result()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text") if message.get("text") is not None else message.get("bytes")
        try:
            parsed = json.loads(raw or b"")
        except (ValueError, TypeError):
            parsed = None
        reply, close = _handle(conn, credentials, parsed)
        conn.queue.put_nowait(reply)
        if close:
            conn.queue.put_nowait(_CLOSE)
