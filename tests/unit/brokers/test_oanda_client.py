"""The OANDA HTTP edge and gateway against httpx.MockTransport: typed errors, ambiguity, duplicate client ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from brokers.oanda import (
    OandaAmbiguousOutcomeError,
    OandaAuthenticationError,
    OandaConfig,
    OandaDuplicateClientIdError,
    OandaGateway,
    OandaInsufficientMarginError,
    OandaRateLimitedError,
    OandaUnavailableError,
    OandaUnsupportedOrderError,
)
from brokers.oanda.client import OandaAuth, OandaClient
from domain.broker_integration import BrokerDuplicateOrderError, BrokerOrder, ConnectionCredentials, OrderStatus

ACCOUNT = "101-004-1234567-001"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **config: Any) -> OandaClient:
    return OandaClient(OandaConfig(base_url="http://oanda.test", **config), OandaAuth("SECRET-TOKEN"),
                       transport=httpx.MockTransport(handler), sleep=_no_sleep)


async def _no_sleep(_: float) -> None:
    return None


async def test_bearer_token_and_json() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    assert await client(handler).send("POST", "/v3/x", body={"order": {"units": "1"}}) == {"ok": True}
    assert seen[0].headers["Authorization"] == "Bearer SECRET-TOKEN"
    assert seen[0].headers["Accept-Datetime-Format"] == "RFC3339"
    assert json.loads(seen[0].content) == {"order": {"units": "1"}}
    assert "SECRET" not in repr(OandaAuth("SECRET-TOKEN"))


@pytest.mark.parametrize(("status", "body", "error"), [
    (401, {"errorMessage": "Insufficient authorization to perform request. SECRET-TOKEN"}, OandaAuthenticationError),
    (400, {"orderRejectTransaction": {"type": "LIMIT_ORDER_REJECT", "rejectReason": "CLIENT_ORDER_ID_ALREADY_EXISTS"},
           "errorCode": "CLIENT_ORDER_ID_ALREADY_EXISTS", "errorMessage": "taken"}, OandaDuplicateClientIdError),
    (400, {"errorCode": "INSUFFICIENT_MARGIN", "errorMessage": "no"}, OandaInsufficientMarginError),
    (503, {"errorMessage": "down"}, OandaUnavailableError),
])
async def test_statuses_become_typed_errors(status: int, body: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error) as raised:
        await client(lambda _: httpx.Response(status, json=body)).send("POST", "/v3/orders", body={})
    assert "SECRET-TOKEN" not in str(raised.value)


async def test_a_duplicate_client_id_is_the_domain_s_duplicate() -> None:
    assert issubclass(OandaDuplicateClientIdError, BrokerDuplicateOrderError)
    assert not OandaDuplicateClientIdError("x").is_retryable()


async def test_no_answer_is_ambiguous_for_writes_and_unavailable_for_reads() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    with pytest.raises(OandaAmbiguousOutcomeError):
        await client(reset).send("POST", "/v3/orders", body={})
    with pytest.raises(OandaAmbiguousOutcomeError):
        await client(reset).send("PUT", "/v3/orders/1/cancel")
    with pytest.raises(OandaUnavailableError):
        await client(reset).send("GET", "/v3/orders/1")
    with pytest.raises(OandaAmbiguousOutcomeError):
        await client(lambda _: httpx.Response(504, text="gateway timeout")).send("POST", "/v3/orders", body={})

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(OandaUnavailableError):  # never sent: safe to retry
        await client(refused).send("POST", "/v3/orders", body={})


async def test_rate_limits_are_waited_out_once() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}, json={"errorMessage": "slow down"}),
                    httpx.Response(200, json={"ok": 1})])
    assert await client(lambda _: next(answers)).send("GET", "/v3/accounts") == {"ok": 1}
    with pytest.raises(OandaRateLimitedError):
        await client(lambda _: httpx.Response(429, json={}), rate_limit_retries=0).send("GET", "/v3/accounts")


def gateway(handler: Handler) -> OandaGateway:
    return OandaGateway("c1", OandaConfig(base_url="http://oanda.test"), transport=httpx.MockTransport(handler))


def routes(extra: dict[str, Callable[[httpx.Request], httpx.Response]]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        if key == "GET /v3/accounts":
            return httpx.Response(200, json={"accounts": [{"id": ACCOUNT, "tags": []}]})
        if key in extra:
            return extra[key](request)
        return httpx.Response(404, json={"errorCode": "ORDER_DOESNT_EXIST", "errorMessage": "no such " + key})

    return handler


def fx(cid: str = "bf-9", **fields: Any) -> BrokerOrder:
    data: dict[str, Any] = {"client_order_id": cid, "symbol": "EUR/USD", "side": "BUY", "quantity": "1000",
                            "asset_class": "FOREX", "order_type": "LIMIT", "price": "1.05",
                            "execution_params": {"time_in_force": "GTC"}}
    return BrokerOrder(**(data | fields))


async def test_resubmitting_a_placed_order_finds_it_by_client_id() -> None:
    order = {"id": "7", "type": "LIMIT", "state": "PENDING", "instrument": "EUR_USD", "units": "1000",
             "price": "1.05000", "timeInForce": "GTC", "clientExtensions": {"id": "bf-9"},
             "createTime": "2026-03-02T15:00:00.000000000Z"}
    base = f"/v3/accounts/{ACCOUNT}"
    gw = gateway(routes({
        f"POST {base}/orders": lambda _: httpx.Response(400, json={
            "orderRejectTransaction": {"type": "LIMIT_ORDER_REJECT", "rejectReason": "CLIENT_ORDER_ID_ALREADY_EXISTS"},
            "errorCode": "CLIENT_ORDER_ID_ALREADY_EXISTS", "errorMessage": "taken"}),
        f"GET {base}/orders/@bf-9": lambda _: httpx.Response(200, json={"order": order, "lastTransactionID": "7"}),
        f"GET {base}/transactions/sinceid": lambda _: httpx.Response(200, json={"transactions": []}),
    }))
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    again = await gw.submit_order(fx())
    assert (again.broker_order_id, again.client_order_id, again.status) == ("7", "bf-9", OrderStatus.ACCEPTED)
    with pytest.raises(OandaDuplicateClientIdError):  # the same id on a different order is refused
        await gw.submit_order(fx(quantity="2000"))
    await gw.close()


async def test_margin_refusals_in_the_create_batch_are_rejections() -> None:
    create = {"id": "8", "type": "MARKET_ORDER", "instrument": "EUR_USD", "units": "1000000000",
              "time": "2026-03-02T15:00:00.000000000Z", "clientExtensions": {"id": "bf-big"}}
    cancel = {"id": "9", "type": "ORDER_CANCEL", "orderID": "8", "reason": "INSUFFICIENT_MARGIN",
              "time": "2026-03-02T15:00:00.000000000Z"}
    gw = gateway(routes({f"POST /v3/accounts/{ACCOUNT}/orders": lambda _: httpx.Response(201, json={
        "orderCreateTransaction": create, "orderCancelTransaction": cancel, "lastTransactionID": "9"})}))
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    with pytest.raises(OandaInsufficientMarginError, match="INSUFFICIENT_MARGIN"):
        await gw.submit_order(fx("bf-big", order_type="MARKET", price=None, quantity="1000000000",
                                 execution_params={"time_in_force": "FOK"}))
    await gw.close()


async def test_unsupported_orders_send_nothing() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return routes({})(request)

    gw = gateway(handler)
    await gw.authenticate(ConnectionCredentials(access_token=SecretStr("t")))
    with pytest.raises(OandaUnsupportedOrderError):
        await gw.submit_order(fx(symbol="AAPL", asset_class="EQUITY"))
    assert sent == ["/v3/accounts"]
    await gw.close()
