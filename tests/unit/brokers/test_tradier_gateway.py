"""TradierGateway against a scripted Tradier (httpx.MockTransport): exactly-once by tag, modify in place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.tradier import TradierConfig, TradierGateway, credentials_from_env
from brokers.tradier.errors import (
    TradierAmbiguousOutcomeError,
    TradierAuthenticationError,
    TradierDuplicateTagError,
    TradierUnsupportedOrderError,
)
from domain.broker_integration import BrokerOrder, ConnectionCredentials, OrderAmendment

RESOURCES = Path(__file__).resolve().parents[2] / "resources" / "tradier"
ORDERS = json.loads((RESOURCES / "orders.json").read_text())
PROFILE = json.loads((RESOURCES / "profile.json").read_text())


class FakeTradier:
    """Answers from a table of (method, path) -> JSON; records every request."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = {("GET", "/v1/user/profile"): PROFILE["one_account"], **answers}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get((request.method, request.url.path))
        if isinstance(answer, Exception):
            raise answer
        if answer is None:
            return httpx.Response(404, json={"errors": {"error": "not found"}})
        return httpx.Response(200, json=answer)

    def sent(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


async def gateway(fake: FakeTradier, **credentials: Any) -> TradierGateway:
    gw = TradierGateway("conn", TradierConfig(base_url="http://tradier.test"), transport=httpx.MockTransport(fake))
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("tok"), **credentials))
    return gw


def aapl(cid: str = "strat7-0001", qty: str = "50") -> BrokerOrder:
    return BrokerOrder(client_order_id=cid, symbol="AAPL", side="BUY", quantity=qty, order_type="LIMIT", price="180")


async def test_an_order_already_tagged_is_returned_not_placed_again() -> None:
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders"): ORDERS["single"]})
    found = await (await gateway(fake)).submit_order(aapl())
    assert found.broker_order_id == "228175" and fake.sent("POST") == []
    listed = fake.sent("GET")[-1]
    assert listed.url.params["includeTags"] == "true"


async def test_a_tag_taken_by_another_order_is_refused_unsent() -> None:
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders"): ORDERS["single"]})
    with pytest.raises(TradierDuplicateTagError):
        await (await gateway(fake)).submit_order(aapl(qty="7"))
    assert fake.sent("POST") == []


async def test_placing_reads_the_order_back() -> None:
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders"): ORDERS["empty"],
                        ("POST", "/v1/accounts/VA000001/orders"): {"order": {"id": 228175, "status": "ok"}},
                        ("GET", "/v1/accounts/VA000001/orders/228175"): ORDERS["one_order"]})
    placed = await (await gateway(fake)).submit_order(aapl())
    assert (placed.broker_order_id, placed.client_order_id) == ("228175", "strat7-0001")
    assert "tag=strat7-0001" in fake.sent("POST")[0].content.decode()


async def test_a_quantity_change_is_refused_before_any_put() -> None:
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders/228175"): ORDERS["one_order"]})
    with pytest.raises(TradierUnsupportedOrderError, match="quantity"):
        await (await gateway(fake)).replace_order("228175", OrderAmendment(quantity="60", limit_price="181"))
    assert fake.sent("PUT") == []


async def test_a_lost_modify_answer_is_settled_by_the_order_terms() -> None:
    lost = httpx.ReadError("reset")
    fake = FakeTradier({("GET", "/v1/accounts/VA000001/orders/228175"): ORDERS["one_order"],
                        ("PUT", "/v1/accounts/VA000001/orders/228175"): lost})
    gw = await gateway(fake)
    with pytest.raises(TradierAmbiguousOutcomeError):  # the order still shows 180: not applied (yet)
        await gw.replace_order("228175", OrderAmendment(limit_price="181"))
    applied = await gw.replace_order("228175", OrderAmendment(limit_price="180"))  # the terms already hold
    assert applied.broker_order_id == "228175" and applied.limit_price == 180


async def test_the_profile_names_the_accounts_and_a_pinned_one_must_be_among_them() -> None:
    fake = FakeTradier({("GET", "/v1/user/profile"): PROFILE["two_accounts"]})
    gw = TradierGateway("conn", TradierConfig(base_url="http://tradier.test"), transport=httpx.MockTransport(fake))
    info = await gw.authenticate(ConnectionCredentials(access_token=SecretStr("tok")))
    assert info.account_numbers == ["VA000001", "VA000002"]
    pinned = await gw.authenticate(ConnectionCredentials(api_key="VA000002", access_token=SecretStr("tok")))
    assert pinned.account_numbers == ["VA000002"]
    with pytest.raises(TradierAuthenticationError):
        await gw.authenticate(ConnectionCredentials(api_key="VA999", access_token=SecretStr("tok")))
    await gw.close()


def test_credentials_from_the_environment() -> None:
    assert credentials_from_env({}) is None
    found = credentials_from_env({"TRADIER_ACCESS_TOKEN": "t", "TRADIER_ACCOUNT_ID": "VA1"})
    assert found is not None and found.api_key == "VA1" and found.secret_values()["access_token"] == "t"


def test_urls_follow_the_environment_or_the_base_url() -> None:
    assert TradierConfig().api_url == "https://sandbox.tradier.com"
    assert TradierConfig().events_url == "wss://sandbox-ws.tradier.com/v1/accounts/events"
    assert TradierConfig(environment="LIVE").events_url == "wss://ws.tradier.com/v1/accounts/events"
    local = TradierConfig(base_url="http://127.0.0.1:8787/")
    assert (local.api_url, local.events_url) == ("http://127.0.0.1:8787", "ws://127.0.0.1:8787/v1/accounts/events")
