"""The HTTP edge with httpx.MockTransport: auth headers, status -> typed errors, ambiguity, 429 waits."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from brokers.alpaca.client import AlpacaAuth, AlpacaClient
from brokers.alpaca.config import AlpacaConfig
from brokers.alpaca.errors import (
    DUPLICATE_CLIENT_ORDER_ID,
    AlpacaAmbiguousOutcomeError,
    AlpacaAuthenticationError,
    AlpacaDuplicateClientOrderIdError,
    AlpacaInsufficientFundsError,
    AlpacaOrderNotCancelableError,
    AlpacaOrderNotFoundError,
    AlpacaProtocolError,
    AlpacaRateLimitedError,
    AlpacaRejectedError,
    AlpacaUnavailableError,
)
from domain.broker_integration import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerOrderNotFoundError,
    BrokerRateLimitedError,
    BrokerRejectedError,
    BrokerUnavailableError,
)

from .conftest import load

SECRET = "s3cr3t-VALUE-never-shown"
Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(handler: Handler, *, auth: AlpacaAuth | None = None, sleeps: Sleeps | None = None,
           now: float = 1_000_000.0, **config: object) -> AlpacaClient:
    return AlpacaClient("https://paper-api.alpaca.markets/", auth or AlpacaAuth(key_id="PKTEST1234", secret_key=SECRET),
                        AlpacaConfig(**config), transport=httpx.MockTransport(handler),
                        sleep=sleeps or Sleeps(), clock=lambda: now)


def answer(status: int, body: object = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)
    return handler


def raises(exc: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)
    return handler


async def test_key_headers_and_url() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    assert await client(handler).send("GET", "/v2/account") == {"ok": True}
    request = seen[0]
    assert str(request.url) == "https://paper-api.alpaca.markets/v2/account"
    assert request.headers["APCA-API-KEY-ID"] == "PKTEST1234"
    assert request.headers["APCA-API-SECRET-KEY"] == SECRET
    assert "authorization" not in request.headers


async def test_oauth_bearer_replaces_keys() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    auth = AlpacaAuth(oauth_token="tok-123")
    assert await client(handler, auth=auth).send("DELETE", "/v2/orders/x") is None
    assert seen[0].headers["Authorization"] == "Bearer tok-123"
    assert "apca-api-key-id" not in seen[0].headers
    assert "tok-123" not in repr(auth)


def test_auth_needs_something() -> None:
    with pytest.raises(AlpacaAuthenticationError):
        AlpacaAuth(key_id="only-key")


ERROR_CASES = [
    ("unauthorized", "GET", AlpacaAuthenticationError, BrokerAuthenticationError),
    ("forbidden", "GET", AlpacaAuthenticationError, BrokerAuthenticationError),
    ("buying_power", "POST", AlpacaInsufficientFundsError, BrokerRejectedError),
    ("insufficient_qty", "POST", AlpacaInsufficientFundsError, BrokerRejectedError),
    ("not_shortable", "POST", AlpacaRejectedError, BrokerRejectedError),
    ("not_found", "GET", AlpacaOrderNotFoundError, BrokerOrderNotFoundError),
    ("duplicate", "POST", AlpacaDuplicateClientOrderIdError, BrokerRejectedError),
    ("sub_penny", "POST", AlpacaRejectedError, BrokerRejectedError),
    ("server", "POST", AlpacaUnavailableError, BrokerUnavailableError),
]


@pytest.mark.parametrize(("case", "method", "alpaca", "neutral"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
async def test_status_maps_to_typed_error(case: str, method: str, alpaca: type, neutral: type) -> None:
    status, body = load("errors")[case]
    with pytest.raises(alpaca) as info:
        await client(answer(status, body)).send(method, "/v2/orders", json_body={})
    error = info.value
    assert isinstance(error, neutral)
    assert error.status_code == status
    assert error.code == (str(body["code"]) if "code" in body else None)
    assert body["message"] in str(error)
    assert error.is_retryable() is neutral.retryable


async def test_rejections_are_not_retryable_and_keep_details() -> None:
    status, body = load("errors")["buying_power"]
    with pytest.raises(AlpacaInsufficientFundsError) as info:
        await client(answer(status, body)).send("POST", "/v2/orders", json_body={})
    assert not info.value.is_retryable()
    assert info.value.details == {"buying_power": "100", "cost_basis": "1874.1"}


async def test_duplicate_client_order_id_is_distinguishable() -> None:
    status, body = load("errors")["duplicate"]
    with pytest.raises(AlpacaDuplicateClientOrderIdError) as info:
        await client(answer(status, body)).send("POST", "/v2/orders", json_body={})
    assert info.value.reason == DUPLICATE_CLIENT_ORDER_ID and info.value.code == "40010001"


async def test_cancel_of_final_order_is_not_cancelable() -> None:
    with pytest.raises(AlpacaOrderNotCancelableError):
        await client(answer(422, {"code": 42210000, "message": "order is not cancelable"})).send(
            "DELETE", "/v2/orders/x")


async def test_secret_never_in_error_messages() -> None:
    body = {"code": 40110000, "message": f"request is not authorized for {SECRET}"}
    with pytest.raises(AlpacaAuthenticationError) as info:
        await client(answer(401, body)).send("GET", "/v2/account")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value.args)
    assert "***" in str(info.value)


async def test_plain_text_error_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="upstream down")

    with pytest.raises(AlpacaUnavailableError, match="upstream down"):
        await client(handler).send("GET", "/v2/account")


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
@pytest.mark.parametrize("method", ["POST", "PATCH", "GET"])
async def test_not_sent_is_unavailable(exc: type[httpx.TransportError], method: str) -> None:
    with pytest.raises(AlpacaUnavailableError) as info:
        await client(raises(exc)).send(method, "/v2/orders")
    assert info.value.is_retryable()


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError,
                                 httpx.WriteTimeout])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_sent_without_answer_is_ambiguous(exc: type[httpx.TransportError], method: str) -> None:
    with pytest.raises(AlpacaAmbiguousOutcomeError) as info:
        await client(raises(exc)).send(method, "/v2/orders", json_body={})
    assert isinstance(info.value, AmbiguousOutcomeError)
    assert not isinstance(info.value, BrokerUnavailableError)
    assert not info.value.is_retryable()


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_idempotent_read_timeout_is_unavailable(method: str) -> None:
    with pytest.raises(AlpacaUnavailableError):
        await client(raises(httpx.ReadTimeout)).send(method, "/v2/orders/x")


async def test_gateway_timeout_on_post_is_ambiguous_but_on_get_unavailable() -> None:
    with pytest.raises(AlpacaAmbiguousOutcomeError):
        await client(answer(504, {"message": "gateway timeout"})).send("POST", "/v2/orders", json_body={})
    with pytest.raises(AlpacaUnavailableError):
        await client(answer(504, {"message": "gateway timeout"})).send("GET", "/v2/orders")


async def test_unreadable_success_body() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{not json")

    with pytest.raises(AlpacaAmbiguousOutcomeError):
        await client(handler).send("POST", "/v2/orders", json_body={})
    with pytest.raises(AlpacaProtocolError):
        await client(handler).send("GET", "/v2/orders")


async def test_429_waits_retry_after_then_succeeds() -> None:
    answers = iter([httpx.Response(429, json={"code": 42910000, "message": "rate limit exceeded"},
                                   headers={"Retry-After": "2"}),
                    httpx.Response(200, json=[])])
    sleeps = Sleeps()
    result = await client(lambda request: next(answers), sleeps=sleeps).send("GET", "/v2/orders")
    assert result == [] and sleeps.calls == [2.0]


async def test_429_uses_ratelimit_reset_when_no_retry_after() -> None:
    answers = iter([httpx.Response(429, json={}, headers={"X-RateLimit-Reset": "1000003"}),
                    httpx.Response(200, json={"id": "o"})])
    sleeps = Sleeps()
    await client(lambda request: next(answers), sleeps=sleeps, now=1_000_000.0).send("POST", "/v2/orders")
    assert sleeps.calls == [3.0]


async def test_429_raises_when_wait_too_long_or_retries_spent() -> None:
    slow = answer(429, {"code": 42910000, "message": "rate limit exceeded"}, **{"Retry-After": "60"})
    with pytest.raises(AlpacaRateLimitedError) as info:
        await client(slow).send("GET", "/v2/orders")
    assert isinstance(info.value, BrokerRateLimitedError) and info.value.retry_after == 60.0
    assert info.value.is_retryable()
    sleeps = Sleeps()
    always = answer(429, {}, **{"Retry-After": "1"})
    with pytest.raises(AlpacaRateLimitedError):
        await client(always, sleeps=sleeps, rate_limit_retries=2).send("GET", "/v2/orders")
    assert sleeps.calls == [1.0, 1.0]


async def test_exhausted_window_delays_the_next_request() -> None:
    sleeps = Sleeps()
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1000002"}
    alpaca = client(answer(200, {}, **headers), sleeps=sleeps, now=1_000_000.0)
    await alpaca.send("GET", "/v2/account")
    assert sleeps.calls == []
    await alpaca.send("GET", "/v2/account")
    assert sleeps.calls == [2.0]
