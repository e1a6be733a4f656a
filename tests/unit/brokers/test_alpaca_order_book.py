"""Open orders read across pages; the bounded memory of orders seen, with misses resolved by asking Alpaca."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.alpaca import AlpacaConfig, AlpacaGateway, AlpacaOrderNotFoundError, AlpacaProtocolError
from brokers.alpaca.recovery import BoundedMap
from domain.broker_integration import ConnectionCredentials

from .conftest import load
from .fakes import KEYS, Broker, order_json

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def stamp(at: datetime, nanos: str = "123") -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f") + nanos + "Z"


def book(seconds: list[int]) -> list[dict[str, Any]]:
    """Open orders submitted `seconds` after T0 (equal seconds share one instant, to the nanosecond)."""
    return [order_json(id=f"oid-{n}", client_order_id=f"cid-{n}", submitted_at=stamp(T0 + timedelta(seconds=s)))
            for n, s in enumerate(seconds)]


def alpaca_orders(orders: list[dict[str, Any]], *, honour_after: bool = True) -> Any:
    """GET /v2/orders as Alpaca pages it: oldest first, `after` exclusive, at most `limit`."""
    def route(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        assert params["status"] == "open" and params["direction"] == "asc"
        after = params.get("after")
        since = datetime.fromisoformat(after) if after and honour_after else None
        chosen = [o for o in orders if since is None or datetime.fromisoformat(o["submitted_at"][:26] + "+00:00")
                  > since]
        return httpx.Response(200, json=chosen[:int(params["limit"])])
    return route


def gateway(broker: Broker) -> AlpacaGateway:
    return AlpacaGateway("conn-1", AlpacaConfig(), transport=httpx.MockTransport(broker))


@pytest.mark.parametrize("seconds", [[0, 1, 1, 2, 3, 3, 4], [0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2, 2, 3]])
async def test_every_page_of_open_orders(monkeypatch: pytest.MonkeyPatch, seconds: list[int]) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.OPEN_ORDERS_PAGE", 3)
    broker = Broker()
    broker.routes["GET /v2/orders"] = alpaca_orders(book(seconds))
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    listed = await gw.list_open_orders()
    assert [o.client_order_id for o in listed] == [f"cid-{n}" for n in range(len(seconds))]
    requests = broker.seen("GET /v2/orders")
    assert len(requests) > 1 and all(r.url.params["limit"] == "3" for r in requests)
    assert "after" not in requests[0].url.params


async def test_a_full_page_in_one_instant_is_passed_and_reported(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.OPEN_ORDERS_PAGE", 2)
    broker = Broker()
    broker.routes["GET /v2/orders"] = alpaca_orders(book([0, 1, 1, 1, 2]))
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    with caplog.at_level(logging.ERROR):
        listed = {o.client_order_id for o in await gw.list_open_orders()}
    assert {"cid-0", "cid-1", "cid-2", "cid-4"} <= listed
    assert "submitted at" in caplog.text


async def test_pages_that_do_not_advance_are_a_protocol_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.OPEN_ORDERS_PAGE", 2)
    broker = Broker()
    broker.routes["GET /v2/orders"] = alpaca_orders(book([0, 1, 2]), honour_after=False)
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    with pytest.raises(AlpacaProtocolError):
        await gw.list_open_orders()


def test_bounded_map_forgets_the_least_recently_used() -> None:
    seen: BoundedMap[str, int] = BoundedMap(2)
    seen["a"], seen["b"] = 1, 2
    assert seen.get("a") == 1
    seen["c"] = 3
    assert "b" not in seen and seen.get("a") == 1 and seen.get("c") == 3 and len(seen) == 2


OTHER_KEYS = ConnectionCredentials(api_key="PKOTHER", api_secret=SecretStr("other-secret"))


def two_accounts(orders: dict[str, list[dict[str, Any]]]) -> Broker:
    """Two keys, two accounts; each key sees only its account's orders."""
    broker = Broker()

    def account(request: httpx.Request) -> httpx.Response:
        body = load("account")
        if request.headers["APCA-API-KEY-ID"] == "PKOTHER":
            body = body | {"id": "other-account-id", "account_number": "PA3OTHER002"}
        return httpx.Response(200, json=body)

    def mine(request: httpx.Request) -> list[dict[str, Any]]:
        return orders[request.headers["APCA-API-KEY-ID"]]

    def one(request: httpx.Request) -> httpx.Response:
        oid = request.url.path.rsplit("/", 1)[-1]
        found = [o for o in mine(request) if o["id"] == oid]
        if not found:
            return httpx.Response(404, json={"code": 40410000, "message": "order not found"})
        return httpx.Response(204) if request.method == "DELETE" else httpx.Response(200, json=found[0])

    broker.routes["GET /v2/account"] = account
    broker.routes["GET /v2/orders"] = lambda r: httpx.Response(200, json=mine(r))
    for listed in orders.values():
        for o in listed:
            broker.routes[f"GET /v2/orders/{o['id']}"] = broker.routes[f"DELETE /v2/orders/{o['id']}"] = one
    return broker


async def test_forgotten_orders_are_found_in_their_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.ORDER_INDEX_SIZE", 2)
    mine, theirs = book([0, 1, 2]), [order_json(id=f"other-{n}", client_order_id=f"ocid-{n}") for n in range(3)]
    broker = two_accounts({"PKTEST": mine, "PKOTHER": theirs})
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    await gw.authenticate(OTHER_KEYS)
    assert len(await gw.list_open_orders()) == 6
    assert len(gw._orders) == 2  # bounded
    await gw.cancel_order("other-0")  # forgotten: looked for in each account, cancelled in its own
    delete = broker.seen("DELETE /v2/orders/other-0")
    assert len(delete) == 1 and delete[0].headers["APCA-API-KEY-ID"] == "PKOTHER"
    assert (await gw.get_order("oid-0")).client_order_id == "cid-0"
    with pytest.raises(AlpacaOrderNotFoundError):
        await gw.get_order("nowhere")


async def test_a_forgotten_fill_still_names_its_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("brokers.alpaca.gateway.ORDER_INDEX_SIZE", 1)
    activities = load("activities_fill")
    broker = Broker()
    broker.routes["GET /v2/account/activities/FILL"] = lambda r: httpx.Response(200, json=activities)
    for activity in activities:
        oid = activity["order_id"]
        broker.routes[f"GET /v2/orders/{oid}"] = lambda r, oid=oid: httpx.Response(
            200, json=order_json(id=oid, client_order_id=f"cid-{oid[:4]}"))
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    reports = await gw.executions_since(T0)
    assert [r.client_order_id for r in reports] == ["cid-3f0c", "cid-3f0c", "cid-7224"]
