"""AlpacaGateway over httpx.MockTransport: login, lookups, duplicate and ambiguous outcomes, activities paging."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.alpaca import AlpacaConfig, AlpacaGateway
from brokers.alpaca.parsing import replacement_client_order_id
from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerGateway,
    BrokerOrder,
    ConnectionCredentials,
    OrderAmendment,
    TimeInForce,
)

from .conftest import load
from .fakes import KEYS, Broker, order_json


def gateway(broker: Broker, **kwargs: Any) -> AlpacaGateway:
    return AlpacaGateway("conn-1", AlpacaConfig(), transport=httpx.MockTransport(broker), **kwargs)


def new_order(**fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": "strat7-0000", "symbol": "AAPL", "side": "BUY", "quantity": "10",
                            "order_type": "LIMIT", "price": "187.5"}
    data.update(fields)
    return BrokerOrder(**data)


async def test_implements_the_port_and_states_capabilities() -> None:
    gw = gateway(Broker())
    assert isinstance(gw, BrokerGateway) and gw.broker == "alpaca"
    caps = gw.capabilities()
    assert TimeInForce.GTD not in caps.time_in_force and TimeInForce.OPG in caps.time_in_force
    assert caps.supports_fractional and caps.supports_trail_percent


async def test_authenticate_verifies_keys_on_the_account() -> None:
    broker = Broker()
    info = await gateway(broker).authenticate(KEYS)
    assert info.account_numbers == ["PA3XYZ0001"] and info.expires_at is None
    assert broker.requests[0].headers["APCA-API-KEY-ID"] == "PKTEST"


async def test_oauth_session_expires_with_its_token() -> None:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    info = await gateway(Broker()).authenticate(
        ConnectionCredentials(access_token=SecretStr("tok"), token_expires_at=expires))
    assert info.expires_at == expires


async def test_refused_keys() -> None:
    broker = Broker()
    broker.routes["GET /v2/account"] = lambda r: httpx.Response(401, json=load("errors")["unauthorized"][1])
    with pytest.raises(BrokerAuthenticationError):
        await gateway(broker).authenticate(KEYS)


async def test_calls_before_login_use_the_credentials_source() -> None:
    with pytest.raises(BrokerAuthenticationError):
        await gateway(Broker()).get_account()

    async def source(connection_id: str) -> ConnectionCredentials:
        assert connection_id == "conn-1"
        return KEYS

    broker = Broker()
    broker.routes["GET /v2/positions"] = lambda r: httpx.Response(200, json=load("positions"))
    account = await gateway(broker, credentials=source).get_account()
    assert account.position_quantity("AAPL") == Decimal("34")


async def test_submit_sends_the_client_order_id() -> None:
    broker = Broker()
    broker.routes["POST /v2/orders"] = lambda r: httpx.Response(200, json=order_json(status="accepted"))
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    snapshot = await gw.submit_order(new_order())
    body = json.loads(broker.seen("POST /v2/orders")[0].content)
    assert body["client_order_id"] == "strat7-0000" and body["order_class"] == "simple"
    assert snapshot.broker_order_id == order_json()["id"]


async def test_duplicate_client_order_id_returns_the_order_already_there() -> None:
    broker = Broker()
    broker.routes["POST /v2/orders"] = lambda r: httpx.Response(422, json=load("errors")["duplicate"][1])
    broker.routes["GET /v2/orders:by_client_order_id"] = lambda r: httpx.Response(200, json=order_json())
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    snapshot = await gw.submit_order(new_order())
    assert snapshot.client_order_id == "strat7-0000"
    lookup = broker.seen("GET /v2/orders:by_client_order_id")[0]
    assert lookup.url.params["client_order_id"] == "strat7-0000"


async def test_ambiguous_submit_is_reported_not_guessed() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    broker = Broker()
    broker.routes["POST /v2/orders"] = timeout
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    with pytest.raises(AmbiguousOutcomeError):
        await gw.submit_order(new_order())
    assert await gw.get_order_by_client_id("strat7-0000") is None


async def test_ambiguous_replace_is_resolved_by_the_new_client_id() -> None:
    old = order_json()
    new = order_json(id="5a1e1f6b-9a4e-4a55-8a3c-4f5a8b0c1d22", replaces=old["id"], limit_price="186",
                     client_order_id=replacement_client_order_id(old["client_order_id"], old["id"]))

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("reset", request=request)

    broker = Broker()
    broker.routes[f"GET /v2/orders/{old['id']}"] = lambda r: httpx.Response(200, json=old)
    broker.routes[f"PATCH /v2/orders/{old['id']}"] = reset
    broker.routes["GET /v2/orders:by_client_order_id"] = lambda r: httpx.Response(200, json=new)
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    snapshot = await gw.replace_order(old["id"], OrderAmendment(limit_price="186"))
    assert snapshot.broker_order_id == new["id"] and snapshot.client_order_id == old["client_order_id"]
    sent = json.loads(broker.seen(f"PATCH /v2/orders/{old['id']}")[0].content)
    assert sent == {"limit_price": "186", "client_order_id": new["client_order_id"]}


async def test_executions_since_pages_and_names_the_order() -> None:
    activities = load("activities_fill")
    pages = {None: activities[:2], activities[1]["id"]: activities[2:]}

    def fills(request: httpx.Request) -> httpx.Response:
        assert request.url.params["direction"] == "asc"
        return httpx.Response(200, json=pages[request.url.params.get("page_token")])

    broker = Broker()
    broker.routes["GET /v2/account/activities/FILL"] = fills
    for activity in activities:
        oid = activity["order_id"]
        broker.routes[f"GET /v2/orders/{oid}"] = lambda r, oid=oid: httpx.Response(
            200, json=order_json(id=oid, client_order_id=f"cid-{oid[:4]}"))
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("brokers.alpaca.gateway.ACTIVITY_PAGE", 2)
        reports = await gw.executions_since(datetime(2026, 3, 2, 15, tzinfo=UTC))
    assert [r.quantity for r in reports] == [Decimal("4"), Decimal("6"), Decimal("5")]
    assert [r.client_order_id for r in reports] == ["cid-3f0c", "cid-3f0c", "cid-7224"]
    assert len(broker.seen(f"GET /v2/orders/{activities[0]['order_id']}")) == 1
    assert broker.seen("GET /v2/account/activities/FILL")[0].url.params["after"] == "2026-03-02T14:59:55Z"


async def test_latest_price() -> None:
    broker = Broker()
    broker.routes["GET /v2/stocks/AAPL/trades/latest"] = lambda r: httpx.Response(200, json=load("latest_trade"))
    broker.routes["GET /v1beta3/crypto/us/latest/trades"] = lambda r: httpx.Response(
        200, json={"trades": {"BTC/USD": {"p": 64000.5, "s": 0.1, "t": "2026-03-02T15:00:00Z"}}})
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    assert await gw.latest_price("AAPL") == Decimal("187.43")
    assert await gw.latest_price("BTC/USD") == Decimal("64000.5")
    assert await gw.latest_price("MSFT") is None
    assert broker.seen("GET /v2/stocks/AAPL/trades/latest")[0].url.host == "data.alpaca.markets"


async def test_latest_price_raises_an_outage_rather_than_answering_no_price() -> None:
    """A 503 is not "no quote": the pre-trade check must be retried, not refuse a market order (make chaos)."""
    from domain.broker_integration import BrokerUnavailableError

    broker = Broker()
    broker.routes["GET /v2/stocks/AAPL/trades/latest"] = lambda r: httpx.Response(
        503, json={"code": 50310000, "message": "service unavailable"})
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    with pytest.raises(BrokerUnavailableError):
        await gw.latest_price("AAPL")


async def test_replace_of_an_order_already_replaced_returns_the_replacement_without_a_patch() -> None:
    new = order_json(id="5a1e1f6b-9a4e-4a55-8a3c-4f5a8b0c1d22", limit_price="186")
    old = order_json(status="replaced", replaced_by=new["id"])
    broker = Broker()
    broker.routes[f"GET /v2/orders/{old['id']}"] = lambda r: httpx.Response(200, json=old)
    broker.routes[f"GET /v2/orders/{new['id']}"] = lambda r: httpx.Response(200, json=new)
    gw = gateway(broker)
    await gw.authenticate(KEYS)
    snapshot = await gw.replace_order(old["id"], OrderAmendment(limit_price="186"))
    assert snapshot.broker_order_id == new["id"] and broker.seen(f"PATCH /v2/orders/{old['id']}") == []
