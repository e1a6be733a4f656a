"""The transaction stream against httpx.MockTransport: heartbeats skipped, what a drop missed read back once."""

from __future__ import annotations

import json
from typing import Any

import httpx

from brokers.oanda.client import OandaAuth, OandaClient
from brokers.oanda.config import OandaConfig
from brokers.oanda.stream import OandaTransactionStream

ACCOUNT = "101-004-1234567-001"
BASE = f"/v3/accounts/{ACCOUNT}"


def tx(tx_id: int, kind: str = "ORDER_FILL") -> dict[str, Any]:
    return {"id": str(tx_id), "type": kind, "time": "2026-03-02T15:00:00.000000000Z", "accountID": ACCOUNT}


def lines(*items: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


async def test_a_reconnect_reads_back_what_it_missed_and_nothing_twice() -> None:
    connections = iter([
        lines(tx(6), {"type": "HEARTBEAT", "lastTransactionID": "6", "time": "2026-03-02T15:00:05Z"}),
        lines(tx(8), tx(9)),  # 7 and 8 happened while nobody listened; 8 also arrives live
    ])
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked.append(f"{path.removeprefix(BASE)}?{request.url.query.decode()}".rstrip("?"))
        if path.endswith("/transactions/stream"):
            return httpx.Response(200, content=next(connections))
        if path.endswith("/summary"):
            return httpx.Response(200, json={"account": {}, "lastTransactionID": "5"})
        return httpx.Response(200, json={"transactions": [tx(7), tx(8)], "lastTransactionID": "8"})

    config = OandaConfig(base_url="http://oanda.test", stream_backoff_initial=0.01)
    client = OandaClient(config, OandaAuth("t"), transport=httpx.MockTransport(handler))

    async def client_of() -> OandaClient:
        return client

    async def no_sleep(_: float) -> None:
        return None

    stream = OandaTransactionStream(ACCOUNT, client_of, config, sleep=no_sleep)
    seen: list[str] = []
    async for transaction in stream.transactions():
        seen.append(str(transaction.id))
        if len(seen) == 4:
            stream.close()
            break
    assert seen == ["6", "7", "8", "9"]
    assert asked == ["/transactions/stream", "/summary", "/transactions/stream", "/transactions/sinceid?id=6"]
    assert stream.reconnects == 1 and stream.last_id == "9"
    await client.aclose()
