"""Tradier's account events WebSocket at /v1/accounts/events: a session id from the REST session call,
a subscription payload, then order events and heartbeats as text frames.

Connections join the simulator's stream hub, so the admin API's stream drops, token expiry and resets
close them like any other stream connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from simulator.alpaca.auth import Identity
from simulator.alpaca.stream import StreamConnection

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime
    from simulator.tradier.frontend import TradierFrontEnd

__all__ = ["TradierConnection", "publish", "stream_routes"]

HEARTBEAT_SECONDS = 5.0


@dataclass(eq=False)
class TradierConnection(StreamConnection):
    """A subscribed account-events client (no Alpaca `streams`, so Alpaca events never reach it)."""

    subscribed: bool = False


def publish(sim: SimulatorRuntime, account_id: str, event: dict[str, Any]) -> None:
    """Queue an order event for every subscribed connection of the account."""
    for conn in list(sim.hub.connections):
        if isinstance(conn, TradierConnection) and conn.subscribed and conn.identity \
                and conn.identity.account_id == account_id:
            conn.queue.put_nowait(event)


def _heartbeat() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"event": "heartbeat", "status": "active",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S") + f".{now.microsecond:06d}000Z"}


async def _sender(conn: TradierConnection) -> None:
    while True:
        try:
            async with asyncio.timeout(HEARTBEAT_SECONDS):  # not wait_for, which can drop a cancellation
                item = await conn.queue.get()
        except TimeoutError:
            item = _heartbeat() if conn.subscribed else None
            if item is None:
                continue
        if not isinstance(item, dict):  # the hub's close marker
            await conn.websocket.close(code=1012)
            return
        await conn.websocket.send_text(json.dumps(item, separators=(",", ":")))


def _subscribe(front: TradierFrontEnd, conn: TradierConnection, raw: Any) -> dict[str, Any] | None:
    """Handle a subscription payload; an error message when it cannot be honoured."""
    try:
        message = json.loads(raw or "")
    except (TypeError, ValueError):
        return {"error": "invalid payload"}
    if not isinstance(message, dict):
        return {"error": "invalid payload"}
    opener = front.session_identity(str(message.get("sessionid", "")))
    if opener is None:
        return {"error": "invalid or expired session"}
    account_id = opener.account_id
    events = message.get("events") or ["order"]
    excluded = message.get("excludeAccounts") or []
    number = front.sim.exchange.state.accounts[account_id].number
    # The session's token rides along: expiring that token (admin close_streams) closes this socket.
    conn.identity = Identity(account_id, f"session:{account_id}", opener.token)
    conn.subscribed = "order" in events and number not in excluded
    return None


async def events_endpoint(websocket: WebSocket) -> None:
    """Serve one client: every outgoing frame goes through the connection's queue (a single writer)."""
    front: TradierFrontEnd = websocket.app.state.tradier
    hub = front.sim.hub
    if hub.refusing():
        await websocket.close(code=1013)
        return
    front.book  # noqa: B018 - attach the book to the running exchange before events flow
    await websocket.accept()
    conn = TradierConnection(websocket)
    hub.connections.add(conn)
    sender = asyncio.create_task(_sender(conn))
    try:
        while not sender.done():
            receiving = asyncio.ensure_future(websocket.receive())
            await asyncio.wait({receiving, sender}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                return
            message = receiving.result()
            if message["type"] == "websocket.disconnect":
                return
            error = _subscribe(front, conn, message.get("text") or message.get("bytes"))
            if error is not None:
                conn.queue.put_nowait(error)
                conn.queue.put_nowait(None)
    finally:
        hub.connections.discard(conn)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


def stream_routes() -> list[WebSocketRoute]:
    return [WebSocketRoute("/v1/accounts/events", events_endpoint)]
