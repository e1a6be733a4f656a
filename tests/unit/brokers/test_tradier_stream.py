"""The account events stream with a scripted WebSocket: a new session per connect, heartbeats, gaps, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosedError

from brokers.tradier.config import TradierConfig
from brokers.tradier.schemas import TradierAccountEvent
from brokers.tradier.stream import StreamGap, TradierEventStream

EVENTS = json.loads((Path(__file__).resolve().parents[2] / "resources" / "tradier" / "events.json").read_text())


class FakeSocket:
    """Plays `frames` to whoever calls recv(), then drops the connection."""

    def __init__(self, *frames: dict[str, Any] | str) -> None:
        self.sent: list[dict[str, Any]] = []
        self._frames = [f if isinstance(f, str) else json.dumps(f) for f in frames]

    async def __aenter__(self) -> FakeSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def recv(self) -> str:
        if not self._frames:
            raise ConnectionClosedError(None, None)
        return self._frames.pop(0)


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


def sessions() -> Any:
    issued: list[str] = []

    async def new_session() -> str:
        issued.append(f"session-{len(issued) + 1}")
        return issued[-1]

    return new_session, issued


async def collect(stream: TradierEventStream, count: int) -> list[Any]:
    items: list[Any] = []
    async for item in stream.updates():
        items.append(item)
        if len(items) == count:
            stream.close()
    return items


async def test_subscribes_with_a_fresh_session_and_skips_heartbeats() -> None:
    first = FakeSocket(EVENTS["heartbeat"], EVENTS["order_open"], EVENTS["order_partial"])
    second = FakeSocket(EVENTS["heartbeat"], EVENTS["order_filled"])
    new_session, issued = sessions()
    url = TradierConfig(base_url="http://127.0.0.1:9").events_url
    stream = TradierEventStream(url, new_session, connector=Connector(first, second), sleep=no_sleep)
    items = await collect(stream, 4)
    assert [type(i) for i in items] == [TradierAccountEvent, TradierAccountEvent, StreamGap, TradierAccountEvent]
    assert [i.status for i in items if isinstance(i, TradierAccountEvent)] == ["open", "partially_filled", "filled"]
    assert issued == ["session-1", "session-2"], "a session id is good for one connection only"
    assert first.sent == [{"events": ["order"], "sessionid": "session-1", "excludeAccounts": []}]
    assert second.sent[0]["sessionid"] == "session-2" and stream.reconnects == 1


async def test_an_error_message_or_garbage_reconnects() -> None:
    bad = FakeSocket({"error": "invalid session"})
    garbage = FakeSocket("not json")
    good = FakeSocket(EVENTS["order_canceled_older_name"])
    new_session, issued = sessions()
    stream = TradierEventStream("ws://x/v1/accounts/events", new_session,
                                connector=Connector(bad, garbage, good), sleep=no_sleep)
    *gaps, event = await collect(stream, 3)
    assert [type(g) for g in gaps] == [StreamGap, StreamGap], "each reconnect tells the gateway to look back"
    assert isinstance(event, TradierAccountEvent) and event.executed_quantity == 0.0 and event.status == "canceled"
    assert len(issued) == 3
