"""TradierClient at the HTTP edge (httpx.MockTransport): what is sent, and every answer as a typed error."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from brokers.tradier.client import TradierAuth, TradierClient
from brokers.tradier.config import TradierConfig
from brokers.tradier.errors import (
    TradierAmbiguousOutcomeError,
    TradierAuthenticationError,
    TradierInsufficientFundsError,
    TradierOrderNotCancelableError,
    TradierOrderNotFoundError,
    TradierProtocolError,
    TradierRateLimitedError,
    TradierUnavailableError,
)
from domain.broker_integration import AmbiguousOutcomeError, BrokerRejectedError

TOKEN = "tok-secret-123"


def client(handler: Callable[[httpx.Request], httpx.Response], **config: object) -> TradierClient:
    settings = TradierConfig(base_url="http://tradier.test", max_rate_limit_wait=0, **config)  # type: ignore[arg-type]
    return TradierClient(settings, TradierAuth(TOKEN), transport=httpx.MockTransport(handler))


async def test_orders_go_out_as_forms_with_bearer_and_json_accept() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"order": {"id": 257459, "status": "ok"}})

    answer = await client(handler).send("POST", "/v1/accounts/VA1/orders", form={"class": "equity", "tag": "a-1"})
    request = seen[0]
    assert answer == {"order": {"id": 257459, "status": "ok"}}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}" and request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {"class": ["equity"], "tag": ["a-1"]}


async def test_the_session_call_sends_an_empty_body_with_a_length() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"stream": {"sessionid": "s"}})

    await client(handler).send("POST", "/v1/accounts/events/session")
    assert seen[0].headers["Content-Length"] == "0"


@pytest.mark.parametrize(("status", "body", "method", "error"), [
    (401, "Invalid Access Token", "GET", TradierAuthenticationError),
    (400, {"errors": {"error": "order already in finalized state: filled"}}, "DELETE", TradierOrderNotCancelableError),
    (400, {"errors": {"error": ["Backoffice rejected override of the order.",
                                "You do not have enough buying power for this trade."]}}, "POST",
     TradierInsufficientFundsError),
    (404, {"errors": {"error": "Order not found"}}, "GET", TradierOrderNotFoundError),
    (400, {"errors": {"error": "Invalid Parameter: tag"}}, "POST", BrokerRejectedError),
    (503, {"errors": {"error": "Service Unavailable"}}, "GET", TradierUnavailableError),
    (504, "gateway timeout", "POST", TradierAmbiguousOutcomeError),
])
async def test_error_answers_are_typed(status: int, body: object, method: str, error: type[Exception]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with pytest.raises(error) as raised:
        await client(handler).send(method, "/v1/x")
    assert TOKEN not in str(raised.value)


async def test_a_token_echoed_in_an_error_is_redacted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text=f"Invalid Access Token {TOKEN}")

    with pytest.raises(TradierAuthenticationError) as raised:
        await client(handler).send("GET", "/v1/user/profile")
    assert TOKEN not in str(raised.value) and "***" in str(raised.value)


async def test_rate_limit_names_the_window_expiry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, text="Rate limit exceeded",
                              headers={"X-Ratelimit-Available": "0", "X-Ratelimit-Expiry": "4102444800000"})

    with pytest.raises(TradierRateLimitedError) as raised:
        await client(handler, rate_limit_retries=0).send("GET", "/v1/x")
    assert raised.value.retry_after > 60 and raised.value.is_retryable()


async def test_a_lost_answer_is_ambiguous_only_when_the_request_may_have_acted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    with pytest.raises(AmbiguousOutcomeError):
        await client(handler).send("POST", "/v1/accounts/VA1/orders", form={"tag": "x"})
    with pytest.raises(AmbiguousOutcomeError):
        await client(handler).send("PUT", "/v1/accounts/VA1/orders/1", form={"price": "1"})
    with pytest.raises(TradierUnavailableError):
        await client(handler).send("GET", "/v1/accounts/VA1/orders")


async def test_a_connection_refused_was_not_sent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TradierUnavailableError, match="not sent"):
        await client(handler).send("POST", "/v1/accounts/VA1/orders", form={"tag": "x"})


async def test_xml_where_json_was_expected_is_a_protocol_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<?xml version='1.0'?><orders/>")

    with pytest.raises(TradierProtocolError):
        await client(handler).send("GET", "/v1/accounts/VA1/orders")
    with pytest.raises(TradierAmbiguousOutcomeError):
        await client(handler).send("POST", "/v1/accounts/VA1/orders", form={})


def test_the_auth_never_shows_the_token() -> None:
    assert TOKEN not in repr(TradierAuth(TOKEN))
    with pytest.raises(TradierAuthenticationError):
        TradierAuth(None)
