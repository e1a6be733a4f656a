"""OANDA's transaction stream: `GET /v3/accounts/{id}/transactions/stream`, a chunked HTTP body of
newline-delimited JSON, each line a transaction or a HEARTBEAT (every 5 s).

Connections join the simulator's stream hub, so the admin API's stream drops, token expiry and resets end
them like any other stream connection. `sinceTransactionID` (a simulator convenience; OANDA's clients
read the gap with `GET …/transactions/sinceid`) replays what came after that id first.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from simulator.alpaca.stream import StreamConnection
from simulator.oanda.frontend import frontend, identity
from simulator.oanda.wire import ts

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["HEARTBEAT_SECONDS", "OandaConnection", "publish", "stream_routes"]

HEARTBEAT_SECONDS = 5.0


@dataclass(eq=False)
class OandaConnection(StreamConnection):
    """A transaction-stream client (no Alpaca `streams`, so Alpaca events never reach it)."""

    account_id: str = ""


def publish(sim: SimulatorRuntime, account_id: str, transaction: dict[str, Any]) -> None:
    """Queue a transaction for every stream of the account."""
    for conn in list(sim.hub.connections):
        if isinstance(conn, OandaConnection) and conn.account_id == account_id:
            conn.queue.put_nowait(transaction)


def _line(item: dict[str, Any]) -> bytes:
    return (json.dumps(item, separators=(",", ":")) + "\n").encode()


async def _lines(sim: SimulatorRuntime, conn: OandaConnection, backlog: list[dict[str, Any]],
                 last_id: str) -> AsyncIterator[bytes]:
    try:
        for transaction in backlog:
            last_id = transaction["id"]
            yield _line(transaction)
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):  # not wait_for, which can drop a cancellation
                    item = await conn.queue.get()
            except TimeoutError:
                yield _line({"type": "HEARTBEAT", "lastTransactionID": last_id, "time": ts(datetime.now(UTC))})
                continue
            if not isinstance(item, dict):  # the hub's close marker
                return
            last_id = str(item.get("id", last_id))
            yield _line(item)
    finally:
        sim.hub.connections.discard(conn)


async def transaction_stream(request: Request) -> Response:
    front = frontend(request)
    sim = front.sim
    who = identity(request, sim)
    headers = {"Content-Type": "application/json"}
    if who is None:
        body = json.dumps({"errorMessage": "Insufficient authorization to perform request."})
        return Response(body, 401, headers=headers)
    account = sim.exchange.state.accounts[who.account_id]
    if request.path_params["account_id"] not in (account.number, account.id):
        return Response(json.dumps({"errorMessage": "The provided request was forbidden."}), 403, headers=headers)
    if sim.hub.refusing():
        return Response(json.dumps({"errorMessage": "Service unavailable"}), 503, headers=headers)
    ledger = front.ledger
    last_id = ledger.last_id(account.id)
    since = request.query_params.get("sinceTransactionID", "")
    backlog = ledger.since(account.id, int(since)) if since.isdigit() else []
    conn = OandaConnection(websocket=None, account_id=account.id)  # type: ignore[arg-type]
    conn.identity = who
    sim.hub.connections.add(conn)
    return StreamingResponse(_lines(sim, conn, backlog, last_id), media_type="application/octet-stream")


def stream_routes() -> list[Route]:
    return [Route("/v3/accounts/{account_id}/transactions/stream", transaction_stream, methods=["GET"])]
