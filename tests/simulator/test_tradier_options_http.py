"""Tradier option orders over real HTTP: class=option with an OCC contract, open/close sides, contracts of 100."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from simulator.testing import SimulatorHandle
from tests.simulator.test_tradier_stream import next_order_event, subscribed

JSON = {"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}
CALL = "AAPL260320C00190000"  # AAPL 187.50 on 2026-03-02, 18 days out: 5.04 (bid 4.99, ask 5.09)
PUT = "AAPL260320P00180000"


@pytest_asyncio.fixture
async def tradier(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=JSON, timeout=10) as http:
        yield http


async def account_number(tradier: httpx.AsyncClient) -> str:
    return str((await tradier.get("/v1/user/profile")).json()["profile"]["account"]["account_number"])


def option(side: str = "buy_to_open", qty: str = "2", kind: str = "market", **extra: str) -> dict[str, str]:
    form = {
        "class": "option",
        "symbol": "AAPL",
        "option_symbol": CALL,
        "side": side,
        "quantity": qty,
        "type": kind,
        "duration": "day",
    }
    return form | extra


async def place(tradier: httpx.AsyncClient, account: str, form: dict[str, str]) -> int:
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=form)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["order"]["id"])


async def refused(tradier: httpx.AsyncClient, account: str, form: dict[str, str]) -> str:
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=form)
    assert answer.status_code == 400, answer.text
    return str(answer.json()["errors"]["error"])


async def test_quotes_price_a_contract_from_its_underlying(sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    quotes = (await tradier.get("/v1/markets/quotes", params={"symbols": f"{CALL},{PUT},ZZZZ260320C00100000"})).json()
    call, put = quotes["quotes"]["quote"]
    assert (call["symbol"], call["type"], call["underlying"], call["strike"], call["option_type"]) == (
        CALL,
        "option",
        "AAPL",
        190.0,
        "call",
    )
    assert (call["last"], call["bid"], call["ask"], call["contract_size"]) == (5.04, 4.99, 5.09, 100)
    assert put["option_type"] == "put" and put["expiration_date"] == "2026-03-20" and 0 < put["last"] < call["last"]
    assert quotes["quotes"]["unmatched_symbols"] == {"symbol": "ZZZZ260320C00100000"}, "no such underlying"
    await sim.admin.set_price("AAPL", "200", volatility="0")
    await sim.admin.advance(1)  # a tick reprices the contract from the underlying
    again = (await tradier.get("/v1/markets/quotes", params={"symbols": CALL})).json()["quotes"]["quote"]
    assert again["last"] > 10  # now 10 in the money


async def test_an_option_order_fills_and_shows_the_contract_everywhere(
    sim: SimulatorHandle, tradier: httpx.AsyncClient
) -> None:
    account = await account_number(tradier)
    ws = await subscribed(sim)
    try:
        order_id = await place(tradier, account, option(tag="opt-1"))
        events = [await next_order_event(ws), await next_order_event(ws)]
    finally:
        await ws.close()
    assert [e["status"] for e in events] == ["open", "filled"] and events[-1]["id"] == order_id
    assert events[-1]["exec_quantity"] == 2.0 and events[-1]["avg_fill_price"] == 5.09
    order = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}", params={"includeTags": "true"})).json()
    order = order["order"]
    assert (order["class"], order["symbol"], order["option_symbol"], order["side"], order["tag"]) == (
        "option",
        "AAPL",
        CALL,
        "buy_to_open",
        "opt-1",
    )
    assert (order["status"], order["exec_quantity"], order["avg_fill_price"]) == ("filled", 2.0, 5.09)
    position = (await tradier.get(f"/v1/accounts/{account}/positions")).json()["positions"]["position"]
    assert (position["symbol"], position["quantity"], position["cost_basis"]) == (CALL, 2.0, 1018.0)
    balances = (await tradier.get(f"/v1/accounts/{account}/balances")).json()["balances"]
    assert balances["total_cash"] == 100000 - 1018.0, "2 contracts x 5.09 x 100"
    assert (balances["option_long_value"], balances["stock_long_value"]) == (1008.0, 0.0), "marked at 5.04 x 200"


async def test_sides_must_fit_the_position_in_the_contract(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    assert "long position" in await refused(tradier, account, option(side="sell_to_close"))
    assert "short position" in await refused(tradier, account, option(side="buy_to_close"))
    await place(tradier, account, option(side="buy_to_open", qty="3"))
    assert "sell_to_open" in await refused(tradier, account, option(side="sell_to_open"))
    assert "exceeds" in await refused(tradier, account, option(side="sell_to_close", qty="4"))
    await place(tradier, account, option(side="sell_to_close", qty="3"))
    await place(tradier, account, option(side="sell_to_open", qty="1"))  # a margin account writes a call
    positions = (await tradier.get(f"/v1/accounts/{account}/positions")).json()["positions"]
    assert positions["position"]["quantity"] == -1.0
    assert "buy_to_close" in await refused(tradier, account, option(side="buy_to_open"))
    await place(tradier, account, option(side="buy_to_close", qty="1"))
    assert (await tradier.get(f"/v1/accounts/{account}/positions")).json() == {"positions": "null"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"option_symbol": "AAPL26032C00190000"}, "option_symbol"),  # 5 digits of date
        ({"option_symbol": "AAPL261320C00190000"}, "option_symbol"),  # month 13
        ({"option_symbol": "AAPL260320X00190000"}, "option_symbol"),  # neither C nor P
        ({"option_symbol": ""}, "Missing Parameter: option_symbol"),
        ({"symbol": "MSFT"}, "not an option on MSFT"),
        ({"option_symbol": "AAPL250320C00190000"}, "expired"),
        ({"option_symbol": "NOPE260320C00190000", "symbol": "NOPE"}, "could not find"),
        ({"quantity": "1.5"}, "quantity"),
        ({"quantity": "0"}, "quantity"),
        ({"side": "buy"}, "side"),
        ({"type": "limit"}, "price"),
        ({"type": "stop_limit", "price": "5"}, "stop"),
        ({"duration": "pre", "type": "limit", "price": "5"}, "Extended hours"),
        ({"tag": "not valid!"}, "tag"),
    ],
)
async def test_malformed_option_orders_are_refused(
    tradier: httpx.AsyncClient, change: dict[str, str], message: str
) -> None:
    account = await account_number(tradier)
    form = {k: v for k, v in (option() | change).items() if v}
    assert message in await refused(tradier, account, form)
    assert (await tradier.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}


async def test_buying_power_counts_a_hundred_shares_a_contract(
    sim: SimulatorHandle, tradier: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(
        base_url=sim.base_url, timeout=10, headers={"Authorization": "Bearer SIMTOKEN2", "Accept": "application/json"}
    ) as cash:
        account = await account_number(cash)  # ACC2: a cash account with 50,000
        answer = await cash.post(f"/v1/accounts/{account}/orders", data=option(qty="100", kind="limit", price="5.10"))
        assert answer.status_code == 400 and "buying power" in answer.text, answer.text  # 51,000 > 50,000
        assert (
            await cash.post(f"/v1/accounts/{account}/orders", data=option(qty="90", kind="limit", price="5.10"))
        ).status_code == 200
        written = await cash.post(
            f"/v1/accounts/{account}/orders", data=option(side="sell_to_open", qty="1", option_symbol=PUT)
        )
        assert written.status_code == 400 and "short" in written.text, "a cash account writes no options"


async def test_xml_shows_the_option_fields(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    order_id = await place(tradier, account, option())
    xml = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}", headers={"Accept": "*/*"})).text
    assert f"<option_symbol>{CALL}</option_symbol>" in xml and "<class>option</class>" in xml
    body: Any = json.loads((await tradier.get(f"/v1/accounts/{account}/orders")).text)
    assert body["orders"]["order"]["id"] == order_id, "one order: an object, not a list"
