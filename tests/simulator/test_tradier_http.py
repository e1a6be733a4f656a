"""The Tradier front end over real HTTP: form bodies, XML-converted JSON quirks, modify in place, errors, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from simulator.testing import SimulatorHandle, SimulatorProcess

JSON = {"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}


@pytest_asyncio.fixture
async def tradier(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=JSON, timeout=10) as http:
        yield http


async def account_number(tradier: httpx.AsyncClient) -> str:
    profile = (await tradier.get("/v1/user/profile")).json()["profile"]
    return str(profile["account"]["account_number"])  # one account: an object, not a list


def equity(qty: str = "10", side: str = "buy", kind: str = "limit", **extra: str) -> dict[str, str]:
    form = {"class": "equity", "symbol": "AAPL", "side": side, "quantity": qty, "type": kind, "duration": "gtc"}
    if kind in ("limit", "stop_limit"):
        form["price"] = "150"
    return form | extra


async def place(tradier: httpx.AsyncClient, account: str, **form: Any) -> int:
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=equity(**form))
    assert answer.status_code == 200, answer.text
    assert answer.json()["order"]["status"] == "ok"
    return int(answer.json()["order"]["id"])


async def test_collections_are_null_one_object_or_a_list(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    assert (await tradier.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}
    assert (await tradier.get(f"/v1/accounts/{account}/positions")).json() == {"positions": "null"}
    first = await place(tradier, account)
    one = (await tradier.get(f"/v1/accounts/{account}/orders")).json()["orders"]["order"]
    assert isinstance(one, dict) and one["id"] == first
    await place(tradier, account)
    assert len((await tradier.get(f"/v1/accounts/{account}/orders")).json()["orders"]["order"]) == 2


async def test_order_object_numbers_and_tags(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    order_id = await place(tradier, account, tag="strat7-0001")
    plain = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}")).json()["order"]
    assert "tag" not in plain  # only with includeTags=true
    tagged = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}",
                                params={"includeTags": "true"})).json()["order"]
    assert tagged["tag"] == "strat7-0001" and tagged["quantity"] == 10.0 and tagged["price"] == 150.0
    assert (tagged["status"], tagged["class"], tagged["duration"]) == ("open", "equity", "gtc")
    assert tagged["create_date"].endswith("Z") and len(tagged["create_date"]) == len("2026-03-02T14:02:29.682Z")


async def test_xml_unless_json_is_asked_for(sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    answer = await tradier.get(f"/v1/accounts/{account}/balances", headers={"Accept": "*/*"})
    assert answer.headers["content-type"].startswith("application/xml")
    assert answer.text.startswith("<?xml") and "<balances>" in answer.text


async def test_requests_are_refused_without_a_token_or_with_json(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    refused = await tradier.get("/v1/user/profile", headers={"Authorization": "Bearer nope"})
    assert (refused.status_code, refused.text) == (401, "Invalid Access Token")
    as_json = await tradier.post(f"/v1/accounts/{account}/orders", json=equity())
    assert as_json.status_code == 400 and "errors" in as_json.json()
    assert (await tradier.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}
    other = await tradier.get("/v1/accounts/SOMEONE-ELSE/balances")
    assert other.status_code == 401


@pytest.mark.parametrize(("form", "needle"), [
    ({"tag": "has_underscore"}, "tag"),
    ({"quantity": "1.5"}, "quantity"),
    ({"kind": "trailing_stop"}, "type"),
    ({"side": "sell"}, "sell_short"),
    ({"side": "buy_to_cover"}, "short position"),
    ({"class": "option"}, "class"),
])
async def test_bad_orders_are_refused_with_tradier_errors(tradier: httpx.AsyncClient, form: dict[str, str],
                                                          needle: str) -> None:
    account = await account_number(tradier)
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=equity(**form))
    assert answer.status_code == 400 and needle in str(answer.json()["errors"]["error"])
    assert (await tradier.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}


async def test_a_repeated_tag_is_not_refused(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    first, second = await place(tradier, account, tag="same-1"), await place(tradier, account, tag="same-1")
    assert first != second  # Tradier does not enforce unique tags: clients must look them up


async def test_modify_keeps_the_id_and_the_fills(sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    await sim.admin.set_liquidity("AAPL", 4)
    order_id = await place(tradier, account, price="190")
    await sim.admin.advance(1)
    await sim.admin.set_price("AAPL", "195", volatility="0")
    before = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}")).json()["order"]
    assert before["status"] == "partially_filled" and 0 < before["exec_quantity"] < 10
    answer = await tradier.put(f"/v1/accounts/{account}/orders/{order_id}", data={"price": "189"})
    assert answer.json() == {"order": {"id": order_id, "status": "ok", "partner_id": answer.json()["order"][
        "partner_id"]}}
    after = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}")).json()["order"]
    assert (after["id"], after["price"], after["quantity"]) == (order_id, 189.0, 10.0)
    assert after["exec_quantity"] == before["exec_quantity"] and after["avg_fill_price"] == before["avg_fill_price"]
    assert after["remaining_quantity"] == 10.0 - before["exec_quantity"]
    listed = (await tradier.get(f"/v1/accounts/{account}/orders")).json()["orders"]["order"]
    assert isinstance(listed, dict), "one Tradier order, whatever the core did underneath"
    refused = await tradier.put(f"/v1/accounts/{account}/orders/{order_id}", data={"quantity": "12"})
    assert refused.status_code == 400


async def test_cancel_then_cancel_again(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    order_id = await place(tradier, account)
    answer = await tradier.delete(f"/v1/accounts/{account}/orders/{order_id}")
    assert answer.json() == {"order": {"id": order_id, "status": "ok"}}
    again = await tradier.delete(f"/v1/accounts/{account}/orders/{order_id}")
    assert again.status_code == 400 and "order already in finalized state" in again.json()["errors"]["error"]
    assert (await tradier.get(f"/v1/accounts/{account}/orders/999")).status_code == 404


async def test_balances_and_positions_after_a_fill(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    await place(tradier, account, kind="market", duration="day")
    balances = (await tradier.get(f"/v1/accounts/{account}/balances")).json()["balances"]
    assert balances["account_type"] == "margin" and balances["margin"]["stock_buying_power"] > 0
    assert "cash" not in balances
    position = (await tradier.get(f"/v1/accounts/{account}/positions")).json()["positions"]["position"]
    assert position["symbol"] == "AAPL" and position["quantity"] == 10.0 and position["cost_basis"] > 0


async def test_quotes_and_unmatched_symbols(tradier: httpx.AsyncClient) -> None:
    quotes = (await tradier.get("/v1/markets/quotes", params={"symbols": "AAPL,NOPE"})).json()["quotes"]
    assert quotes["quote"]["symbol"] == "AAPL" and quotes["quote"]["last"] > 0
    assert quotes["unmatched_symbols"] == {"symbol": "NOPE"}


async def test_faults_apply_to_tradier_paths(sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    await sim.admin.set_faults(burst_429=1)
    limited = await tradier.get(f"/v1/accounts/{account}/orders")
    assert limited.status_code == 429 and limited.json() == {"errors": {"error": "Rate limit exceeded"}}
    await sim.admin.set_faults(drop_responses=1, drop_mode="close", drop_match="POST /v1/accounts/")
    with pytest.raises(httpx.TransportError):
        await tradier.post(f"/v1/accounts/{account}/orders", data=equity(tag="dropped-1"))
    listed = (await tradier.get(f"/v1/accounts/{account}/orders", params={"includeTags": "true"})).json()
    assert listed["orders"]["order"]["tag"] == "dropped-1", "the order was placed; only the answer was lost"
    view = await sim.admin.orders()
    assert [s["http_status"] for s in view["submissions"]["dropped-1"]] == [200]
    assert view["dropped_responses"][0]["path"] == f"/v1/accounts/{account}/orders"


async def test_rate_limit_headers(tradier: httpx.AsyncClient) -> None:
    answer = await tradier.get("/v1/user/profile")
    assert int(answer.headers["X-Ratelimit-Available"]) < int(answer.headers["X-Ratelimit-Allowed"])
    assert int(answer.headers["X-Ratelimit-Expiry"]) > 10**12  # epoch milliseconds


async def test_a_modification_the_venue_refuses_leaves_the_order_as_it_was(
        sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    order_id = await place(tradier, account, price="100")
    await sim.admin.set_quirks(fill_before_replace=1)  # the venue fills the order before the change lands
    await tradier.put(f"/v1/accounts/{account}/orders/{order_id}", data={"price": "101"})
    after = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}")).json()["order"]
    assert (after["status"], after["exec_quantity"], after["price"]) == ("filled", 10.0, 100.0)
    refused = await tradier.delete(f"/v1/accounts/{account}/orders/{order_id}")
    assert refused.status_code == 400, "cancel goes to the filled order, not to the refused change"


async def test_the_simulator_process_serves_tradier_on_its_one_port() -> None:
    async with SimulatorProcess(autotick=False) as proc:
        http = httpx.AsyncClient(base_url=proc.base_url, headers=JSON, timeout=10)
        try:
            account = await account_number(http)
            assert (await http.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}
            alpaca = await http.get("/v2/account", headers={"APCA-API-KEY-ID": "SIMKEY",
                                                            "APCA-API-SECRET-KEY": "SIMSECRET"})
            assert alpaca.json()["account_number"] == account, "both front ends, one exchange, one port"
        finally:
            await http.aclose()
