"""Tradier's oto / oco / otoco classes over real HTTP: indexed legs, triggered legs held, one-cancels-other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from simulator.testing import SimulatorHandle
from tests.simulator.test_tradier_stream import next_order_event, subscribed

JSON = {"Authorization": "Bearer SIMTOKEN", "Accept": "application/json"}
CALL = "AAPL260320C00190000"


@pytest_asyncio.fixture
async def tradier(sim: SimulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url, headers=JSON, timeout=10) as http:
        yield http


async def account_number(tradier: httpx.AsyncClient) -> str:
    return str((await tradier.get("/v1/user/profile")).json()["profile"]["account"]["account_number"])


def leg(i: int, side: str, kind: str, qty: str = "10", symbol: str = "AAPL", **prices: str) -> dict[str, str]:
    fields = {
        f"symbol[{i}]": symbol,
        f"side[{i}]": side,
        f"quantity[{i}]": qty,
        f"type[{i}]": kind,
        f"duration[{i}]": "gtc",
    }
    return fields | {f"{name}[{i}]": value for name, value in prices.items()}


def otoco(entry: str = "180", tp: str = "195", sl: str = "175", **extra: str) -> dict[str, str]:
    return {
        "class": "otoco",
        "tag": "grp-1",
        **leg(0, "buy", "limit", price=entry),
        **leg(1, "sell", "limit", price=tp),
        **leg(2, "sell", "stop", stop=sl),
    } | extra


async def place(tradier: httpx.AsyncClient, account: str, form: dict[str, str]) -> dict[str, Any]:
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=form)
    assert answer.status_code == 200, answer.text
    order_id = answer.json()["order"]["id"]
    found = (await tradier.get(f"/v1/accounts/{account}/orders/{order_id}", params={"includeTags": "true"})).json()
    return dict(found["order"])


async def read(tradier: httpx.AsyncClient, account: str, order_id: int) -> dict[str, Any]:
    return dict((await tradier.get(f"/v1/accounts/{account}/orders/{order_id}")).json()["order"])


def statuses(group: dict[str, Any]) -> list[str]:
    return [leg["status"] for leg in group["leg"]]


async def test_otoco_holds_the_exits_until_the_entry_fills_then_one_cancels_the_other(
    sim: SimulatorHandle, tradier: httpx.AsyncClient
) -> None:
    account = await account_number(tradier)
    group = await place(tradier, account, otoco())
    assert (group["class"], group["tag"], group["num_legs"], group["status"]) == ("otoco", "grp-1", 3, "open")
    assert statuses(group) == ["open", "pending", "pending"], "the exits wait for the entry"
    assert [leg["parent_id"] for leg in group["leg"]] == [group["id"]] * 3
    listed = (await tradier.get(f"/v1/accounts/{account}/orders")).json()["orders"]["order"]
    assert isinstance(listed, dict) and listed["id"] == group["id"], "a group is listed once, its legs inside"
    ws = await subscribed(sim)
    try:
        await sim.admin.set_price("AAPL", "179.90", volatility="0")  # the entry trades; the exits start working
        entry_filled = await next_order_event(ws)
        assert (entry_filled["id"], entry_filled["status"], entry_filled["parent_id"]) == (
            group["leg"][0]["id"],
            "filled",
            group["id"],
        )
        group = await read(tradier, account, group["id"])
        assert statuses(group) == ["filled", "open", "open"]
        await sim.admin.set_price("AAPL", "195.50", volatility="0")
        await sim.admin.advance(1)
    finally:
        await ws.close()
    group = await read(tradier, account, group["id"])
    assert (group["status"], statuses(group)) == ("filled", ["filled", "filled", "canceled"])
    leg_alone = await read(tradier, account, group["leg"][2]["id"])
    assert (leg_alone["status"], leg_alone["parent_id"], leg_alone["class"]) == ("canceled", group["id"], "equity")
    assert (await tradier.get(f"/v1/accounts/{account}/positions")).json() == {"positions": "null"}


async def test_an_oco_of_a_position_needs_it_once_not_twice(sim: SimulatorHandle, tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    bought = await tradier.post(
        f"/v1/accounts/{account}/orders",
        data={
            "class": "equity",
            "symbol": "AAPL",
            "side": "buy",
            "quantity": "10",
            "type": "market",
            "duration": "day",
        },
    )
    assert bought.status_code == 200
    form = {"class": "oco", **leg(0, "sell", "limit", price="195"), **leg(1, "sell", "stop", stop="180")}
    group = await place(tradier, account, form)
    assert (group["class"], statuses(group)) == ("oco", ["open", "open"])
    await sim.admin.set_price("AAPL", "179", volatility="0")  # the stop triggers and sells at the bid
    group = await read(tradier, account, group["id"])
    assert (group["status"], statuses(group)) == ("filled", ["canceled", "filled"])
    assert (await tradier.get(f"/v1/accounts/{account}/positions")).json() == {"positions": "null"}


async def test_an_oto_of_options_and_a_cancel_of_the_group(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    form = {
        "class": "oto",
        "duration": "gtc",
        **{k: v for k, v in leg(0, "buy_to_open", "limit", qty="2", price="4").items() if "duration" not in k},
        **{k: v for k, v in leg(1, "sell_to_close", "limit", qty="2", price="8").items() if "duration" not in k},
        "option_symbol[0]": CALL,
        "option_symbol[1]": CALL,
    }
    group = await place(tradier, account, form)
    assert [(leg["option_symbol"], leg["side"], leg["class"]) for leg in group["leg"]] == [
        (CALL, "buy_to_open", "option"),
        (CALL, "sell_to_close", "option"),
    ]
    assert statuses(group) == ["open", "pending"] and group["duration"] == "gtc"
    canceled = await tradier.delete(f"/v1/accounts/{account}/orders/{group['id']}")
    assert canceled.status_code == 200
    assert statuses(await read(tradier, account, group["id"])) == ["canceled", "canceled"]
    again = await tradier.delete(f"/v1/accounts/{account}/orders/{group['id']}")
    assert again.status_code == 400 and "finalized" in again.text


async def test_cancelling_one_leg_cancels_its_group(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    group = await place(tradier, account, otoco())
    answer = await tradier.delete(f"/v1/accounts/{account}/orders/{group['leg'][0]['id']}")
    assert answer.status_code == 200
    group = await read(tradier, account, group["id"])
    assert (group["status"], statuses(group)) == ("canceled", ["canceled", "canceled", "canceled"])


async def test_groups_and_their_legs_are_not_modified(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    group = await place(tradier, account, otoco())
    for order_id in (group["id"], group["leg"][0]["id"]):
        answer = await tradier.put(f"/v1/accounts/{account}/orders/{order_id}", data={"price": "181"})
        assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (otoco() | {"type[2]": "limit", "price[2]": "170"}, "different types"),
        (otoco() | {"duration[2]": "day"}, "Invalid Parameter: duration"),
        (otoco() | {"type[1]": "market"}, "only the first order may be a market order"),
        (otoco() | {"symbol[2]": "MSFT"}, "Invalid Parameter: symbol"),
        (otoco() | {"quantity[1]": "2.5"}, "quantity[1]"),
        (otoco() | {"side[1]": "sell_to_close"}, "side[1]"),
        ({k: v for k, v in otoco().items() if k != "type[2]"}, "type[2]"),
        (otoco() | {"class": "multileg"}, "class"),
        (
            {"class": "oco", **leg(0, "sell", "limit", price="195"), **leg(1, "sell", "stop", stop="180")},
            "long position",
        ),
        (otoco() | {"option_symbol[0]": "AAPL26032C00190000"}, "option_symbol[0]"),
        (otoco() | {"tag": "bad tag"}, "tag"),
    ],
)
async def test_groups_tradier_refuses_are_refused(
    tradier: httpx.AsyncClient, form: dict[str, str], message: str
) -> None:
    account = await account_number(tradier)
    answer = await tradier.post(f"/v1/accounts/{account}/orders", data=form)
    assert answer.status_code == 400 and message in answer.json()["errors"]["error"], answer.text
    assert (await tradier.get(f"/v1/accounts/{account}/orders")).json() == {"orders": "null"}


async def test_a_market_entry_may_start_an_otoco(tradier: httpx.AsyncClient) -> None:
    account = await account_number(tradier)
    form = otoco() | {"type[0]": "market"}
    form.pop("price[0]")
    group = await place(tradier, account, form)
    assert statuses(group) == ["filled", "open", "open"]
