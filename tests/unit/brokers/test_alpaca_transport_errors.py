"""Failures below httpx and websockets leave the gateway as Alpaca's typed errors (BrokerError), never bare."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from brokers.alpaca import AlpacaConfig, AlpacaGateway
from brokers.alpaca.client import AlpacaAuth, AlpacaClient
from brokers.alpaca.errors import AlpacaAmbiguousOutcomeError, AlpacaUnavailableError
from domain.broker_integration import BrokerError, BrokerOrder

from .conftest import load
from .fakes import KEYS, Broker, LiveSocket, Sockets
from .test_alpaca_sessions import broker, fill, next_event

FAILURES: list[Exception] = [
    httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.ReadTimeout("slow"),
    httpx.ReadError("reset"), httpx.WriteError("broken pipe"), httpx.RemoteProtocolError("bad frame"),
    httpx.DecodingError("bad gzip"), httpx.TooManyRedirects("loop"), httpx.InvalidURL("bad url"),
    httpx.StreamClosed(), httpx.ProxyError("proxy"),
]
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.InvalidURL)


def failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/account":
            return httpx.Response(200, json=load("account"))
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
async def test_transport_failures_are_typed(exc: Exception) -> None:
    gw = AlpacaGateway("conn-1", AlpacaConfig(), transport=failing(exc))
    await gw.authenticate(KEYS)
    with pytest.raises(AlpacaUnavailableError):
        await gw.get_order("some-id")
    with pytest.raises(AlpacaUnavailableError):
        await gw.list_open_orders()
    order = BrokerOrder(client_order_id="c-1", symbol="AAPL", side="BUY", quantity="1")
    expected = AlpacaUnavailableError if isinstance(exc, NOT_SENT) else AlpacaAmbiguousOutcomeError
    with pytest.raises(expected):
        await gw.submit_order(order)
    await gw.close()


async def test_a_closed_client_raises_a_typed_error() -> None:
    client = AlpacaClient("https://paper-api.alpaca.markets", AlpacaAuth(key_id="K", secret_key="S"),
                          transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    await client.aclose()
    with pytest.raises(AlpacaUnavailableError, match="client closed"):
        await client.send("GET", "/v2/clock")


async def test_a_client_closed_in_flight_raises_a_typed_error() -> None:
    async def closing(request: httpx.Request) -> httpx.Response:
        await client.aclose()
        raise RuntimeError("Cannot send a request, as the client has been closed.")

    client = AlpacaClient("https://paper-api.alpaca.markets", AlpacaAuth(key_id="K", secret_key="S"),
                          transport=httpx.MockTransport(closing))
    with pytest.raises(AlpacaAmbiguousOutcomeError):
        await client.send("POST", "/v2/orders", json_body={})


async def test_after_close_calls_fail_typed() -> None:
    async def source(connection_id: str) -> Any:
        return None

    gw = AlpacaGateway("conn-1", AlpacaConfig(), transport=httpx.MockTransport(Broker()), credentials=source)
    await gw.authenticate(KEYS)
    await gw.close()
    with pytest.raises(BrokerError):
        await gw.get_order("some-id")


class GarbledSocket(LiveSocket):
    """Answers the authenticate message with something that is not JSON."""

    async def recv(self) -> str | bytes:
        return b"\xff\xfe not json"


async def test_an_unreadable_handshake_reconnects() -> None:
    good = LiveSocket()
    gw = AlpacaGateway("conn-1", AlpacaConfig(stream_backoff_initial=0.01), ws_connect=Sockets(GarbledSocket(), good),
                       transport=httpx.MockTransport(broker()))
    await gw.authenticate(KEYS)
    events = gw.trade_updates()
    good.push(fill(0, 2, 2))
    assert (await next_event(events)).execution is not None
    await events.aclose()
    await gw.close()


async def test_a_replay_that_cannot_reach_alpaca_ends_the_feed_typed() -> None:
    scripted = broker()

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    scripted.routes["GET /v2/account/activities/FILL"] = down
    first, second = LiveSocket(), LiveSocket()
    gw = AlpacaGateway("conn-1", AlpacaConfig(stream_backoff_initial=0.01), ws_connect=Sockets(first, second),
                       transport=httpx.MockTransport(scripted))
    await gw.authenticate(KEYS)
    events = gw.trade_updates()
    first.push(fill(0, 2, 2))
    await next_event(events)
    first.drop()
    with pytest.raises(AlpacaUnavailableError):
        await next_event(events)
    await gw.close()


async def test_websocket_failures_below_the_stream_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(self: Any) -> Any:
        raise ConnectionResetError("reset")
        yield  # pragma: no cover

    monkeypatch.setattr("brokers.alpaca.recovery.TradeUpdateFeed.events", broken)
    gw = AlpacaGateway("conn-1", AlpacaConfig(), transport=httpx.MockTransport(broker()))
    await gw.authenticate(KEYS)
    with pytest.raises(AlpacaUnavailableError):
        await asyncio.wait_for(anext(gw.trade_updates()), 5)
    await gw.close()
