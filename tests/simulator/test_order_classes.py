"""Alpaca order classes at the simulator: bracket exits held until the entry fills, then one-cancels-other."""

from __future__ import annotations

import httpx

from simulator.testing import SimulatorHandle
from tests.simulator.conftest import limit, market


def bracket(**extra: object) -> dict[str, object]:
    fields: dict[str, object] = {"order_class": "bracket", "take_profit": {"limit_price": "195"},
                                 "stop_loss": {"stop_price": "180"}, "client_order_id": "br-1", **extra}
    return market("AAPL", "10", **fields)


async def test_bracket_entry_fill_activates_exits_and_take_profit_cancels_stop(
        sim: SimulatorHandle, client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/orders", json=bracket())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_class"] == "bracket" and len(body["legs"]) == 2
    parent = (await client.get(f"/v2/orders/{body['id']}", params={"nested": "true"})).json()
    assert parent["status"] == "filled"
    tp, sl = parent["legs"]
    assert (tp["type"], tp["side"], tp["limit_price"], tp["status"]) == ("limit", "sell", "195", "new")
    assert (sl["type"], sl["stop_price"], sl["status"]) == ("stop", "180", "new")
    assert (await client.get(f"/v2/orders/{body['id']}")).json()["legs"] is None  # only with nested=true
    await sim.admin.set_price("AAPL", 196)
    tp, sl = (await client.get(f"/v2/orders/{body['id']}", params={"nested": "true"})).json()["legs"]
    assert (tp["status"], tp["filled_qty"]) == ("filled", "10")
    assert (sl["status"], sl["filled_qty"]) == ("canceled", "0")


async def test_exits_stay_held_until_the_entry_fills_and_a_cancel_takes_the_group(
        client: httpx.AsyncClient) -> None:
    entry = limit("AAPL", "10", "150", order_class="bracket", take_profit={"limit_price": "195"},
                  stop_loss={"stop_price": "140", "limit_price": "139.5"}, client_order_id="br-2")
    body = (await client.post("/v2/orders", json=entry)).json()
    tp, sl = (await client.get(f"/v2/orders/{body['id']}", params={"nested": "true"})).json()["legs"]
    assert (tp["status"], sl["status"], sl["type"]) == ("held", "held", "stop_limit")
    assert (await client.delete(f"/v2/orders/{body['id']}")).status_code == 204
    parent = (await client.get(f"/v2/orders/{body['id']}", params={"nested": "true"})).json()
    assert [parent["status"], *(leg["status"] for leg in parent["legs"])] == ["canceled"] * 3


async def test_oco_and_invalid_classes(client: httpx.AsyncClient) -> None:
    await client.post("/v2/orders", json=market("AAPL", "10"))
    oco = limit("AAPL", "10", "195", side="sell", order_class="oco", take_profit={"limit_price": "195"},
                stop_loss={"stop_price": "180"}, client_order_id="oco-1")
    body = (await client.post("/v2/orders", json=oco)).json()
    (sl,) = body["legs"]
    assert body["order_class"] == "oco" and sl["status"] in ("accepted", "new") and sl["type"] == "stop"
    bad = await client.post("/v2/orders", json=bracket(take_profit={"limit_price": "170"}))
    assert bad.status_code == 422 and "take_profit.limit_price must be > stop_loss.stop_price" in bad.text
    missing = await client.post("/v2/orders", json=market("AAPL", "1", order_class="bracket",
                                                          take_profit={"limit_price": "195"}))
    assert missing.status_code == 422
