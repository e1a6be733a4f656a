"""Alpaca v2 REST over real sockets: auth, error bodies, order lifecycle endpoints."""

from __future__ import annotations

import uuid

import httpx
import pytest

from simulator.testing import SimulatorHandle
from tests.simulator.conftest import limit, market

ORDER_FIELDS = {
    "id", "client_order_id", "created_at", "updated_at", "submitted_at", "filled_at", "expired_at", "canceled_at",
    "failed_at", "replaced_at", "expires_at", "cancel_requested_at", "replaced_by", "replaces", "asset_id",
    "symbol", "asset_class", "notional", "qty", "filled_qty", "filled_avg_price", "order_class", "order_type",
    "type", "side", "position_intent", "time_in_force", "limit_price", "stop_price", "status", "extended_hours",
    "legs", "trail_percent", "trail_price", "hwm", "ratio_qty", "subtag", "source",
}


async def test_key_headers_bearer_tokens_and_401(sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        assert (await http.get("/v2/account", headers=sim.headers("ACC2"))).status_code == 200
        bearer = {"Authorization": "Bearer SIMTOKEN"}
        assert (await http.get("/v2/account", headers=bearer)).json()["multiplier"] == "2"
        bad = await http.get("/v2/account", headers={"APCA-API-KEY-ID": "SIMKEY", "APCA-API-SECRET-KEY": "x"})
        assert bad.status_code == 401
        assert bad.json() == {"code": 40110000, "message": "request is not authorized"}
        issued = await sim.admin.issue_token("ACC3")
        token = {"Authorization": f"Bearer {issued['token']}"}
        assert (await http.get("/v2/account", headers=token)).status_code == 200
        await sim.admin.expire_token(issued["token"])
        assert (await http.get("/v2/orders", headers=token)).status_code == 401


async def test_order_object_has_every_field_and_decimals_as_strings(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/orders", json=limit("AAPL", 3, 150.25, client_order_id="c-1"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    body = response.json()
    assert set(body) >= ORDER_FIELDS
    assert (body["qty"], body["limit_price"], body["filled_qty"], body["filled_avg_price"]) == ("3", "150.25", "0",
                                                                                               None)
    assert body["status"] == "accepted" and body["order_class"] == "" and uuid.UUID(body["id"])
    assert body["created_at"].endswith("Z") and len(body["created_at"].split(".")[1]) == 10
    fetched = (await client.get(f"/v2/orders/{body['id']}")).json()
    assert fetched["status"] == "new"
    by_client = await client.get("/v2/orders:by_client_order_id", params={"client_order_id": "c-1"})
    assert by_client.json()["id"] == body["id"]


@pytest.mark.parametrize(
    ("payload", "status", "code", "message"),
    [
        ({"symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "time_in_force": "day"}, 422, 40010001,
         "limit_price is required"),
        (limit("AAPL", 1, "150.123"), 422, 42210000,
         "invalid limit_price 150.123. sub-penny increment does not fulfill minimum pricing criteria"),
        (market(qty="0"), 422, 40010001, "qty must be > 0"),
        (market(qty="abc"), 422, 40010001, "invalid qty"),
        (market(notional="100"), 400, 40010001, "only one of qty or notional may be specified"),
        (market(side="short"), 422, 40010001, "invalid side: short"),
        (market(symbol="NOPE"), 422, 40010001, 'could not find asset "NOPE"'),
        (market(symbol="SIRI", qty="1.5"), 422, 40010001, "requested asset is not fractionable"),
        ({**market(), "type": "stop", "stop_price": "100"}, 422, 42210000,
         "stop price must be greater than current price"),
        (market(qty="1000"), 403, 40310000, "insufficient buying power"),
        (market(client_order_id="x" * 129), 422, 40010001, "client_order_id must be no more than 128 characters"),
    ],
)
async def test_validation_errors_use_alpaca_codes(
    client: httpx.AsyncClient, payload: dict[str, object], status: int, code: int, message: str
) -> None:
    if payload.get("qty") == "1000":
        payload = {**payload, "symbol": "NVDA"}
    response = await client.post("/v2/orders", json=payload)
    assert (response.status_code, response.json()["code"], response.json()["message"]) == (status, code, message)


async def test_duplicate_client_order_id_and_forbidden_short(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    assert (await client.post("/v2/orders", json=market(client_order_id="dup"))).status_code == 200
    again = await client.post("/v2/orders", json=market(client_order_id="dup"))
    assert again.status_code == 422
    assert again.json() == {"code": 40010001, "message": "client_order_id must be unique"}
    short = await client.post("/v2/orders", json=market("TSLA", side="sell"), headers=sim.headers("ACC2"))
    assert short.status_code == 403 and short.json()["message"] == "account is not allowed to short"
    bp = await client.post("/v2/orders", json=market("NVDA", qty=500))
    assert set(bp.json()) >= {"code", "message", "buying_power", "cost_basis"}


async def test_list_orders_filters(client: httpx.AsyncClient) -> None:
    await client.post("/v2/orders", json=limit("AAPL", 1, 100))
    await client.post("/v2/orders", json=limit("MSFT", 1, 100))
    await client.post("/v2/orders", json=market("TSLA"))
    open_orders = (await client.get("/v2/orders")).json()
    assert [o["symbol"] for o in open_orders] == ["MSFT", "AAPL"]
    closed = (await client.get("/v2/orders", params={"status": "closed"})).json()
    assert [o["symbol"] for o in closed] == ["TSLA"]
    every = (await client.get("/v2/orders", params={"status": "all", "direction": "asc", "limit": 2})).json()
    assert [o["symbol"] for o in every] == ["AAPL", "MSFT"]
    some = (await client.get("/v2/orders", params={"status": "all", "symbols": "AAPL,TSLA"})).json()
    assert {o["symbol"] for o in some} == {"AAPL", "TSLA"}
    assert (await client.get("/v2/orders", params={"until": "2020-01-01T00:00:00Z"})).json() == []


async def test_replace_cancel_and_cancel_all(client: httpx.AsyncClient) -> None:
    old = (await client.post("/v2/orders", json=limit("AAPL", 2, 150))).json()
    new = await client.patch(f"/v2/orders/{old['id']}", json={"limit_price": 151.5, "qty": 3})
    assert new.status_code == 200
    body = new.json()
    assert body["replaces"] == old["id"] and body["id"] != old["id"] and body["qty"] == "3"
    previous = (await client.get(f"/v2/orders/{old['id']}")).json()
    assert previous["status"] == "replaced" and previous["replaced_by"] == body["id"]
    same = await client.patch(f"/v2/orders/{body['id']}", json={"limit_price": "151.5"})
    assert same.status_code == 403 and same.json()["message"] == "order parameters are not changed"
    assert (await client.delete(f"/v2/orders/{body['id']}")).status_code == 204
    again = await client.delete(f"/v2/orders/{body['id']}")
    assert again.status_code == 422 and again.json()["message"] == 'order is already in "canceled" state'
    missing = await client.delete(f"/v2/orders/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json() == {"code": 40410000, "message": "order not found"}
    first = (await client.post("/v2/orders", json=limit("AAPL", 1, 100))).json()
    await client.post("/v2/orders", json=limit("MSFT", 1, 100))
    results = await client.delete("/v2/orders")
    assert results.status_code == 207
    assert {r["status"] for r in results.json()} == {200} and first["id"] in {r["id"] for r in results.json()}


async def test_positions_activities_assets_and_clock(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await client.post("/v2/orders", json=market("AAPL", qty=10))
    await client.post("/v2/orders", json=market("AAPL", qty=4, side="sell"))
    position = (await client.get("/v2/positions/AAPL")).json()
    assert (position["qty"], position["side"], position["avg_entry_price"]) == ("6", "long", "187.51")
    assert (await client.get("/v2/positions/MSFT")).status_code == 404
    closing = await client.delete("/v2/positions/AAPL", params={"percentage": "50"})
    assert closing.status_code == 200 and closing.json()["qty"] == "3" and closing.json()["side"] == "sell"
    fills = (await client.get("/v2/account/activities/FILL", params={"direction": "asc"})).json()
    assert [(f["side"], f["qty"], f["type"]) for f in fills] == [("buy", "10", "fill"), ("sell", "4", "fill"),
                                                                 ("sell", "3", "fill")]
    assert fills[0]["id"].split("::")[0] == "20260302150000000"
    mixed = (await client.get("/v2/account/activities", params={"activity_types": "FILL,FEE"})).json()
    assert {a["activity_type"] for a in mixed} == {"FILL", "FEE"}
    assert all(a["net_amount"].startswith("-") for a in mixed if a["activity_type"] == "FEE")
    page = (await client.get("/v2/account/activities/FILL", params={"page_size": 1})).json()
    after = (await client.get("/v2/account/activities/FILL", params={"page_token": page[0]["id"]})).json()
    assert len(page) == 1 and len(after) == 2
    asset = (await client.get("/v2/assets/AAPL")).json()
    assert asset["class"] == "us_equity" and asset["fractionable"] is True
    assert (await client.get("/v2/assets/ZZZZ")).status_code == 404
    clock = (await client.get("/v2/clock")).json()
    assert clock["is_open"] is True and clock["next_close"] == "2026-03-02T16:00:00-05:00"
    account = (await client.get("/v2/account")).json()
    assert isinstance(account["daytrade_count"], int) and account["cash"].count(".") <= 1


async def test_rate_limit_per_key(sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    await sim.admin.set_faults(rate_limit_per_minute=3)
    statuses = [(await client.get("/v2/clock")).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await client.get("/v2/clock")
    assert limited.json() == {"code": 42910000, "message": "rate limit exceeded"}
    assert limited.headers["X-Ratelimit-Remaining"] == "0"
    other = await client.get("/v2/clock", headers=sim.headers("ACC2"))
    assert other.status_code == 200 and other.headers["X-Ratelimit-Limit"] == "3"
