"""The OANDA v20 front end over real HTTP: string decimals, signed units, transactions, client ids, the
transaction stream, errors and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from simulator.testing import SimulatorHandle

AUTH = {"Authorization": "Bearer OANDATOKEN"}
ACCOUNT = "101-001-1000001-001"
BASE = f"/v3/accounts/{ACCOUNT}"


@pytest_asyncio.fixture
async def oanda(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=AUTH, timeout=10) as http:
        yield http


def market(units: str = "10000", **extra: Any) -> dict[str, Any]:
    return {"order": {"type": "MARKET", "instrument": "EUR_USD", "units": units, **extra}}


def limit(units: str = "10000", price: str = "1.05000", **extra: Any) -> dict[str, Any]:
    return {"order": {"type": "LIMIT", "instrument": "EUR_USD", "units": units, "price": price,
                      "timeInForce": "GTC", **extra}}


async def test_accounts_and_summary_speak_strings(oanda: httpx.AsyncClient) -> None:
    assert (await oanda.get("/v3/accounts")).json() == {"accounts": [{"id": ACCOUNT, "tags": []}]}
    answer = await oanda.get(f"{BASE}/summary")
    assert answer.status_code == 200 and answer.headers["RequestID"]
    account = answer.json()["account"]
    assert (account["id"], account["currency"], account["balance"], account["NAV"]) == (
        ACCOUNT, "USD", "100000.0000", "100000.0000")
    assert account["marginRate"] == "0.02" and account["pendingOrderCount"] == 0
    assert answer.json()["lastTransactionID"] == "2"  # CREATE, TRANSFER_FUNDS


async def test_market_order_fills_in_the_create_answer(oanda: httpx.AsyncClient) -> None:
    answer = await oanda.post(f"{BASE}/orders", json=market(clientExtensions={"id": "my-1", "tag": "t"}))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    create, fill = body["orderCreateTransaction"], body["orderFillTransaction"]
    assert (create["type"], create["units"], create["timeInForce"], create["id"]) == ("MARKET_ORDER", "10000",
                                                                                     "FOK", "3")
    assert (fill["type"], fill["orderID"], fill["clientOrderID"], fill["units"]) == ("ORDER_FILL", "3", "my-1",
                                                                                    "10000")
    assert fill["price"] == "1.08505" and fill["batchID"] == "3" and fill["tradeOpened"]["units"] == "10000"
    assert body["relatedTransactionIDs"] == ["3", "4"] and body["lastTransactionID"] == "4"
    order = (await oanda.get(f"{BASE}/orders/@my-1")).json()["order"]
    assert (order["id"], order["state"], order["fillingTransactionID"]) == ("3", "FILLED", "4")
    positions = (await oanda.get(f"{BASE}/openPositions")).json()["positions"]
    assert [(p["instrument"], p["long"]["units"], p["long"]["averagePrice"], p["short"]["units"])
            for p in positions] == [("EUR_USD", "10000", "1.08505", "0")]
    sold = await oanda.post(f"{BASE}/orders", json=market("-10000"))
    assert sold.json()["orderFillTransaction"]["units"] == "-10000"
    assert sold.json()["orderFillTransaction"]["tradesClosed"][0]["tradeID"] == "4"
    assert (await oanda.get(f"{BASE}/openPositions")).json()["positions"] == []


async def test_limit_order_rests_then_cancels(oanda: httpx.AsyncClient) -> None:
    placed = (await oanda.post(f"{BASE}/orders", json=limit(clientExtensions={"id": "rest-1"}))).json()
    assert "orderFillTransaction" not in placed
    order_id = placed["orderCreateTransaction"]["id"]
    listed = (await oanda.get(f"{BASE}/orders")).json()["orders"]
    assert [(o["id"], o["state"], o["price"], o["units"]) for o in listed] == [(order_id, "PENDING", "1.05000",
                                                                                "10000")]
    cancelled = await oanda.put(f"{BASE}/orders/@rest-1/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["orderCancelTransaction"]["reason"] == "CLIENT_REQUEST"
    again = await oanda.put(f"{BASE}/orders/{order_id}/cancel")
    assert again.status_code == 404 and again.json()["orderCancelRejectTransaction"]["type"] == "ORDER_CANCEL_REJECT"
    assert (await oanda.get(f"{BASE}/orders/{order_id}")).json()["order"]["state"] == "CANCELLED"
    assert (await oanda.get(f"{BASE}/orders", params={"state": "ALL"})).json()["orders"][0]["id"] == order_id


async def test_replace_is_cancel_plus_create(oanda: httpx.AsyncClient) -> None:
    placed = (await oanda.post(f"{BASE}/orders", json=limit(clientExtensions={"id": "rep-1"}))).json()
    old_id = placed["orderCreateTransaction"]["id"]
    answer = await oanda.put(f"{BASE}/orders/{old_id}", json=limit(price="1.06000",
                                                                  clientExtensions={"id": "rep-1~r1"}))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    new_id = body["orderCreateTransaction"]["id"]
    assert new_id != old_id and body["orderCreateTransaction"]["replacesOrderID"] == old_id
    cancel = body["orderCancelTransaction"]
    assert (cancel["orderID"], cancel["reason"], cancel["replacedByOrderID"]) == (old_id, "CLIENT_REQUEST_REPLACED",
                                                                                  new_id)
    old = (await oanda.get(f"{BASE}/orders/{old_id}")).json()["order"]
    assert (old["state"], old["replacedByOrderID"]) == ("CANCELLED", new_id)
    new = (await oanda.get(f"{BASE}/orders/@rep-1~r1")).json()["order"]
    assert (new["id"], new["price"], new["replacesOrderID"]) == (new_id, "1.06000", old_id)
    other_type = await oanda.put(f"{BASE}/orders/{new_id}", json=market())
    assert other_type.status_code == 400 and other_type.json()["errorCode"] == "ORDER_TYPE_INVALID"


async def test_rejects_carry_a_reject_transaction(oanda: httpx.AsyncClient) -> None:
    await oanda.post(f"{BASE}/orders", json=limit(clientExtensions={"id": "dup-1"}))
    duplicate = await oanda.post(f"{BASE}/orders", json=limit(clientExtensions={"id": "dup-1"}))
    assert duplicate.status_code == 400
    assert duplicate.json()["orderRejectTransaction"]["rejectReason"] == "CLIENT_ORDER_ID_ALREADY_EXISTS"
    assert duplicate.json()["orderRejectTransaction"]["type"] == "LIMIT_ORDER_REJECT"
    cases = [(limit(price="1.050001"), "PRICE_PRECISION_EXCEEDED"), (market("10.5"), "UNITS_PRECISION_EXCEEDED"),
             (market("0"), "UNITS_INVALID"), (market(timeInForce="GTC"), "TIME_IN_FORCE_INVALID"),
             ({"order": {"type": "MARKET", "instrument": "AAPL", "units": "1"}}, "INSTRUMENT_UNKNOWN")]
    for request, reason in cases:
        refused = await oanda.post(f"{BASE}/orders", json=request)
        assert (refused.status_code, refused.json()["errorCode"]) == (400, reason), request
    jpy = await oanda.post(f"{BASE}/orders", json={"order": {"type": "LIMIT", "instrument": "USD_JPY", "units": "-5",
                                                             "price": "160.125"}})
    assert jpy.status_code == 201 and jpy.json()["orderCreateTransaction"]["price"] == "160.125"


async def test_fok_that_cannot_fill_is_still_201(sim: SimulatorHandle, oanda: httpx.AsyncClient) -> None:
    await sim.admin.set_liquidity("EUR_USD", 100)
    answer = await oanda.post(f"{BASE}/orders", json=market())
    assert answer.status_code == 201
    assert "orderFillTransaction" not in answer.json()
    assert answer.json()["orderCancelTransaction"]["reason"] == "INSUFFICIENT_LIQUIDITY"


async def test_auth_and_account_scope(oanda: httpx.AsyncClient) -> None:
    refused = await oanda.get(f"{BASE}/summary", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and "errorMessage" in refused.json()
    assert (await oanda.get("/v3/accounts/101-001-9999999-001/summary")).status_code == 403
    missing = await oanda.get(f"{BASE}/orders/99999")
    assert (missing.status_code, missing.json()["errorCode"]) == (404, "ORDER_DOESNT_EXIST")


async def test_transactions_since_and_the_stream(sim: SimulatorHandle, oanda: httpx.AsyncClient) -> None:
    await oanda.post(f"{BASE}/orders", json=market())
    since = (await oanda.get(f"{BASE}/transactions/sinceid", params={"id": "2"})).json()
    assert [t["type"] for t in since["transactions"]] == ["MARKET_ORDER", "ORDER_FILL"]
    async with oanda.stream("GET", f"{BASE}/transactions/stream", params={"sinceTransactionID": "3"}) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        replayed = json.loads(await anext(lines))
        assert (replayed["id"], replayed["type"]) == ("4", "ORDER_FILL")
        await oanda.post(f"{BASE}/orders", json=limit())
        live = json.loads(await anext(lines))
        assert (live["id"], live["type"], live["units"]) == ("5", "LIMIT_ORDER", "10000")
        assert (await sim.admin.state())["stream_connections"] == 1
        await sim.admin.disconnect_streams()
        assert [line async for line in lines] == []


async def test_faults_apply_to_v3(sim: SimulatorHandle, oanda: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(burst_429=1)
    limited = await oanda.get(f"{BASE}/summary")
    assert limited.status_code == 429 and "errorMessage" in limited.json()
    assert (await oanda.get(f"{BASE}/summary")).status_code == 200


async def test_transaction_pages_and_id_ranges(oanda: httpx.AsyncClient) -> None:
    await oanda.post(f"{BASE}/orders", json=market())
    await oanda.post(f"{BASE}/orders", json=market("-10000"))
    index = (await oanda.get(f"{BASE}/transactions", params={"from": "2026-03-02T00:00:00Z", "type": "ORDER_FILL",
                                                             "pageSize": "1"})).json()
    assert index["count"] == 2 and len(index["pages"]) == 2
    page = httpx.URL(index["pages"][1])
    assert page.path == f"{BASE}/transactions/idrange"
    found = (await oanda.get(page.path, params=dict(page.params))).json()["transactions"]
    assert [(t["type"], t["units"]) for t in found] == [("ORDER_FILL", "-10000")]


async def test_pricing_quotes_bid_and_ask(oanda: httpx.AsyncClient) -> None:
    (quote,) = (await oanda.get(f"{BASE}/pricing", params={"instruments": "USD_JPY"})).json()["prices"]
    assert (quote["bids"][0]["price"], quote["asks"][0]["price"]) == ("156.490", "156.510")
    assert (await oanda.get(f"{BASE}/pricing", params={"instruments": "AAPL"})).status_code == 400


async def test_gtd_orders_expire_when_the_clock_passes_their_time(sim: SimulatorHandle,
                                                                  oanda: httpx.AsyncClient) -> None:
    placed = await oanda.post(f"{BASE}/orders", json=limit(timeInForce="GTD", gtdTime="2026-03-02T15:00:30Z"))
    order_id = placed.json()["orderCreateTransaction"]["id"]
    assert placed.json()["orderCreateTransaction"]["gtdTime"] == "2026-03-02T15:00:30.000000000Z"
    await sim.admin.advance(60)
    order = (await oanda.get(f"{BASE}/orders/{order_id}")).json()["order"]
    assert order["state"] == "CANCELLED"
    since = (await oanda.get(f"{BASE}/transactions/sinceid", params={"id": order_id})).json()["transactions"]
    assert [(t["type"], t["reason"]) for t in since] == [("ORDER_CANCEL", "TIME_IN_FORCE_EXPIRED")]


async def test_ioc_fills_what_it_can_and_cancels_the_rest(sim: SimulatorHandle, oanda: httpx.AsyncClient) -> None:
    await sim.admin.set_liquidity("EUR_USD", 4000)
    body = (await oanda.post(f"{BASE}/orders", json=market(timeInForce="IOC"))).json()
    assert body["orderFillTransaction"]["units"] == "4000"
    assert body["orderCancelTransaction"]["reason"] == "INSUFFICIENT_LIQUIDITY"


async def test_margin_is_fifty_to_one(oanda: httpx.AsyncClient) -> None:
    big = await oanda.post(f"{BASE}/orders", json=market("4000000"))  # 4.34M notional on 100k: 50:1 allows it
    assert "orderFillTransaction" in big.json(), big.text
    account = (await oanda.get(f"{BASE}/summary")).json()["account"]
    assert account["positionValue"] == "4340000.0000" and account["marginUsed"] == "86800.0000"
    too_big = await oanda.post(f"{BASE}/orders", json=market("1000000"))
    assert too_big.status_code == 201 and too_big.json()["orderCancelTransaction"]["reason"] == "INSUFFICIENT_MARGIN"
