"""A new login of an account while its session is in use: the trade_updates feed and order lookups carry on."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
from pydantic import SecretStr

from brokers.alpaca import AlpacaConfig, AlpacaGateway
from domain.broker_integration import ConnectionCredentials, TradeEvent

from .conftest import load
from .fakes import KEYS, Broker, LiveSocket, Sockets, order_json

NEW_KEYS = ConnectionCredentials(api_key="PKNEW", api_secret=SecretStr("new-secret"))
ORDER_ID = "3f0c8a0e-7d1b-4d7e-9b7a-2a1f0f6c0001"
EXEC = [f"7d6c0f57-33f5-4d8f-8a3e-7f1b1b9a2c0{n}" for n in range(1, 5)]


def fill(n: int, qty: int, cum: int) -> dict[str, Any]:
    """The trade update of execution `n` of the order: `qty` more, `cum` in all."""
    message = copy.deepcopy(load("trade_updates")[3])
    data = message["data"]
    data.update(execution_id=EXEC[n], qty=str(qty), position_qty=str(cum),
                timestamp=f"2026-03-02T15:04:0{n}.000000000Z")
    if cum == 10:
        data["event"], data["order"]["status"] = "fill", "filled"
    data["order"]["filled_qty"] = str(cum)
    return message


def activity(n: int, qty: int, cum: int) -> dict[str, Any]:
    """The FILL activity of the same execution, as the account activities report it."""
    data = copy.deepcopy(load("activities_fill")[0])
    data.update(id=f"2026030215040{n}000::{EXEC[n]}", order_id=ORDER_ID, qty=str(qty), cum_qty=str(cum),
                leaves_qty=str(10 - cum), transaction_time=f"2026-03-02T15:04:0{n}Z")
    return data


def broker() -> Broker:
    scripted = Broker()
    scripted.routes["GET /v2/clock"] = lambda r: httpx.Response(200, json={"timestamp": "2026-03-02T15:04:00Z"})
    scripted.routes["GET /v2/account/activities/FILL"] = lambda r: httpx.Response(
        200, json=[activity(1, 3, 5), activity(2, 2, 7)])
    scripted.routes[f"GET /v2/orders/{ORDER_ID}"] = lambda r: httpx.Response(
        200, json=order_json(id=ORDER_ID, client_order_id="strat7-0001", status="partially_filled", filled_qty="7"))
    scripted.routes[f"DELETE /v2/orders/{ORDER_ID}"] = lambda r: httpx.Response(204)
    return scripted


async def next_event(events: AsyncIterator[TradeEvent]) -> TradeEvent:
    return await asyncio.wait_for(anext(events), 5)


def config() -> AlpacaConfig:
    return AlpacaConfig(stream_backoff_initial=0.01, stream_backoff_max=0.02)


async def test_relogin_while_the_feed_runs_loses_and_repeats_nothing() -> None:
    scripted, first, second = broker(), LiveSocket(), LiveSocket()
    gw = AlpacaGateway("conn-1", config(), transport=httpx.MockTransport(scripted), ws_connect=Sockets(first, second))
    await gw.authenticate(KEYS)
    events = gw.trade_updates()
    first.push(fill(0, 2, 2))
    received = [await next_event(events)]

    await gw.authenticate(NEW_KEYS)  # a token refresh: same account, new credentials
    first.push(fill(1, 3, 5))
    received.append(await next_event(events))  # the open stream carries on
    first.drop()
    received.append(await next_event(events))  # the gap: execution 2 from the activities, 1 skipped
    second.push(fill(2, 2, 7), fill(3, 3, 10))  # 2 again on the new stream, then the last fill
    received.append(await next_event(events))
    await events.aclose()

    assert [e.execution.execution_id for e in received if e.execution] == EXEC
    assert sum(e.execution.quantity for e in received if e.execution) == Decimal("10")
    assert second.sent[0]["data"]["key_id"] == "PKNEW"  # the reconnect uses the new keys
    replay = scripted.seen("GET /v2/account/activities/FILL") + scripted.seen(f"GET /v2/orders/{ORDER_ID}")
    assert replay and all(r.headers["APCA-API-KEY-ID"] == "PKNEW" for r in replay)
    await gw.close()


async def test_orders_seen_before_a_relogin_are_still_served() -> None:
    scripted = broker()
    gw = AlpacaGateway("conn-1", config(), transport=httpx.MockTransport(scripted))
    await gw.authenticate(KEYS)
    assert (await gw.get_order(ORDER_ID)).client_order_id == "strat7-0001"
    first = await gw.authenticate(NEW_KEYS)
    second = await gw.authenticate(NEW_KEYS)
    await gw.cancel_order(ORDER_ID)
    assert first.account_numbers == second.account_numbers == ["PA3XYZ0001"]
    assert scripted.seen(f"DELETE /v2/orders/{ORDER_ID}")[0].headers["APCA-API-KEY-ID"] == "PKNEW"
    await gw.close()


async def test_concurrent_logins_keep_one_session() -> None:
    scripted = broker()
    gw = AlpacaGateway("conn-1", config(), transport=httpx.MockTransport(scripted))
    await asyncio.gather(gw.authenticate(KEYS), gw.authenticate(NEW_KEYS), gw.authenticate(KEYS))
    await gw.get_order(ORDER_ID)
    await gw.authenticate(NEW_KEYS)
    await gw.get_order(ORDER_ID)
    assert scripted.seen(f"GET /v2/orders/{ORDER_ID}")[-1].headers["APCA-API-KEY-ID"] == "PKNEW"
    await gw.close()


async def test_an_additional_key_whose_login_failed_is_logged_in_again(monkeypatch: Any) -> None:
    """A 504 while a worker first logged in its connection's second key used to leave that account out of the
    worker's pool for good: every poll of its orders answered 404 and its fills were never listed (with patch
    `fold-records` the polls of an order run on its workflow's worker: the likeliest way `make chaos` lost a
    fill)."""
    import contextlib

    from brokers.alpaca import sessions as alpaca_sessions
    from brokers.alpaca.errors import AlpacaOrderNotFoundError
    from domain.broker_integration.value_objects import AccountKey

    monkeypatch.setattr(alpaca_sessions, "MISSING_KEY_RETRY_SECONDS", 0.0)
    second = "3f0c8a0e-7d1b-4d7e-9b7a-2a1f0f6c0099"
    scripted, outage = Broker(), [1]
    first_account = load("account")
    second_account = {**first_account, "id": "acc-two", "account_number": "PA2222222"}

    def account(request: httpx.Request) -> httpx.Response:
        if request.headers.get("APCA-API-KEY-ID") != "PKTWO":
            return httpx.Response(200, json=first_account)
        if outage[0]:
            outage[0] -= 1
            return httpx.Response(504, json={"message": "gateway timeout"})
        return httpx.Response(200, json=second_account)

    def order(request: httpx.Request) -> httpx.Response:
        if request.headers.get("APCA-API-KEY-ID") == "PKTWO":
            return httpx.Response(200, json=order_json(id=second, client_order_id="c-2", status="filled",
                                                       filled_qty="10"))
        return httpx.Response(404, json={"code": 40410000, "message": "order not found"})

    scripted.routes["GET /v2/account"] = account
    scripted.routes[f"GET /v2/orders/{second}"] = order
    credentials = KEYS.model_copy(update={"additional_keys": [AccountKey(api_key="PKTWO",
                                                                         api_secret=SecretStr("two"))]})

    async def source(connection_id: str) -> ConnectionCredentials:
        return credentials

    gw = AlpacaGateway("conn-1", config(), transport=httpx.MockTransport(scripted), credentials=source)
    with contextlib.suppress(AlpacaOrderNotFoundError):  # the first look logs in both keys: the second fails
        await gw.get_order(second)
    assert outage == [0]
    assert (await gw.get_order(second)).status == "FILLED"  # the next look logs the second key in again
    assert (await gw.get_order(second)).status == "FILLED"
    assert len(scripted.seen("GET /v2/account")) == 3
