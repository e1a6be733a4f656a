"""TradierTokenRefresher at the HTTP edge (httpx.MockTransport), and where its credentials come from."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import typer
from pydantic import SecretStr

from activities.auth_plugins import AUTH_PLUGINS
from brokers.registry import install_defaults
from brokers.tradier import (
    TradierTokenRefresher,
    TradierTokenRefreshError,
    TradierUnavailableError,
    credentials_from_env,
)
from brokers.tradier.config import account_pin
from domain.broker_integration import BrokerConnection, ConnectionCredentials, DomainValidationError, runtime
from starter.credentials_input import read_refresh_credentials

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CONNECTION = BrokerConnection(connection_id="t", broker="tradier", base_url="http://tradier.test")
STORED = ConnectionCredentials(api_key="CLIENT", api_secret=SecretStr("CLIENT-SECRET"),
                               access_token=SecretStr("old-access"), refresh_token=SecretStr("old-refresh"),
                               token_expires_at=NOW - timedelta(minutes=1))
PAIR = {"access_token": "new-access", "refresh_token": "new-refresh", "expires_in": 86399,
        "issued_at": "2026-03-02T10:00:00-05:00", "scope": "read write trade", "status": "approved"}

Handler = Callable[[httpx.Request], httpx.Response]


def refresher(handler: Handler, sleeps: list[float] | None = None) -> TradierTokenRefresher:
    async def sleep(seconds: float) -> None:
        (sleeps if sleeps is not None else []).append(seconds)

    return TradierTokenRefresher(transport=httpx.MockTransport(handler), sleep=sleep, clock=lambda: NOW)


async def test_a_refresh_posts_the_grant_with_basic_auth_and_returns_the_rotated_pair() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=PAIR)

    fresh = await refresher(handler).refresh(CONNECTION, STORED)
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", "http://tradier.test/v1/oauth/refreshtoken")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"CLIENT:CLIENT-SECRET").decode()
    assert request.headers["accept"] == "application/json"
    assert parse_qs(request.content.decode()) == {"grant_type": ["refresh_token"], "refresh_token": ["old-refresh"]}
    values = fresh.secret_values()
    assert (values["access_token"], values["refresh_token"]) == ("new-access", "new-refresh")
    assert fresh.token_expires_at == NOW + timedelta(seconds=86399)
    assert (fresh.api_key, values["api_secret"]) == ("CLIENT", "CLIENT-SECRET")  # the client is kept


async def test_an_answer_without_a_new_refresh_token_keeps_the_old_one() -> None:
    body = {k: v for k, v in PAIR.items() if k != "refresh_token"}
    fresh = await refresher(lambda r: httpx.Response(200, json=body)).refresh(CONNECTION, STORED)
    assert fresh.secret_values()["refresh_token"] == "old-refresh"


@pytest.mark.parametrize(("status", "message"), [
    (400, "Invalid refresh token old-refresh"), (401, "Invalid client credentials")])
async def test_a_refused_refresh_is_not_retried_and_shows_no_secret(status: int, message: str) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"errors": {"error": message}})

    with pytest.raises(TradierTokenRefreshError) as caught:
        await refresher(handler).refresh(CONNECTION, STORED)
    assert not caught.value.is_retryable() and len(calls) == 1
    assert "old-refresh" not in str(caught.value) and "CLIENT-SECRET" not in str(caught.value)
    assert str(status) in str(caught.value)


async def test_a_5xx_is_retried_once_with_the_same_refresh_token() -> None:
    answers = iter([httpx.Response(503, json={"errors": {"error": "Service Unavailable"}}),
                    httpx.Response(200, json=PAIR)])
    tokens: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tokens.append(parse_qs(request.content.decode())["refresh_token"][0])
        return next(answers)

    sleeps: list[float] = []
    fresh = await refresher(handler, sleeps).refresh(CONNECTION, STORED)
    assert tokens == ["old-refresh", "old-refresh"] and len(sleeps) == 1
    assert fresh.secret_values()["access_token"] == "new-access"


async def test_no_answer_at_all_is_a_retryable_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TradierUnavailableError) as caught:
        await refresher(handler).refresh(CONNECTION, STORED)
    assert caught.value.is_retryable()


@pytest.mark.parametrize("update", [{"api_secret": None}, {"refresh_token": None}])
async def test_without_client_or_refresh_token_nothing_is_sent(update: dict[str, object]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    with pytest.raises(TradierTokenRefreshError):
        await refresher(handler).refresh(CONNECTION, STORED.model_copy(update=update))


def test_env_credentials_carry_the_oauth_client_and_refresh_token() -> None:
    env = {"TRADIER_ACCESS_TOKEN": "tok", "TRADIER_CLIENT_ID": "cid", "TRADIER_CLIENT_SECRET": "cs",
           "TRADIER_REFRESH_TOKEN": "rt", "TRADIER_ACCOUNT_ID": "VA1"}
    found = credentials_from_env(env)
    assert found is not None and found.api_key == "cid" and account_pin(found) is None
    assert found.secret_values() == {"api_key": "cid", "api_secret": "cs", "access_token": "tok",
                                     "refresh_token": "rt", "session_token": None}
    pinned = credentials_from_env({"TRADIER_ACCESS_TOKEN": "tok", "TRADIER_ACCOUNT_ID": "VA1"})
    assert pinned is not None and account_pin(pinned) == "VA1"


def test_the_cli_takes_all_refresh_variables_or_none() -> None:
    updates, sources = read_refresh_credentials("tradier", {"TRADIER_CLIENT_ID": "cid", "TRADIER_CLIENT_SECRET": "cs",
                                                            "TRADIER_REFRESH_TOKEN": "rt"})
    assert updates["api_key"] == "cid" and updates["refresh_token"].get_secret_value() == "rt"
    assert sources == ["api_key: TRADIER_CLIENT_ID", "api_secret: TRADIER_CLIENT_SECRET",
                       "refresh_token: TRADIER_REFRESH_TOKEN"]
    assert read_refresh_credentials("tradier", {}) == ({}, [])
    assert read_refresh_credentials("alpaca", {"TRADIER_REFRESH_TOKEN": "rt"}) == ({}, [])
    with pytest.raises(DomainValidationError, match="TRADIER_CLIENT_SECRET"):
        read_refresh_credentials("tradier", {"TRADIER_CLIENT_ID": "cid", "TRADIER_REFRESH_TOKEN": "rt"})


@pytest.fixture
def no_tradier_refresher() -> Iterator[None]:
    before = AUTH_PLUGINS.refresher_for("tradier")
    AUTH_PLUGINS.register_refresher("tradier", None)
    yield
    AUTH_PLUGINS.register_refresher("tradier", before)
    runtime.reset()


@pytest.mark.usefixtures("no_tradier_refresher")
def test_install_defaults_gives_the_worker_the_tradier_refresher() -> None:
    install_defaults()
    assert isinstance(AUTH_PLUGINS.refresher_for("tradier"), TradierTokenRefresher)


def test_connection_add_stores_the_refresh_fields_with_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from starter.connection_cli import AuthChoice, _credentials

    for name, value in {"TRADIER_ACCESS_TOKEN": "tok", "TRADIER_CLIENT_ID": "cid", "TRADIER_CLIENT_SECRET": "cs",
                        "TRADIER_REFRESH_TOKEN": "rt"}.items():
        monkeypatch.setenv(name, value)
    credentials, sources = _credentials("tradier", AuthChoice.oauth)
    assert credentials.secret_values() == {"api_key": "cid", "api_secret": "cs", "access_token": "tok",
                                           "refresh_token": "rt", "session_token": None}
    assert "refresh_token: TRADIER_REFRESH_TOKEN" in sources and "rt" not in sources
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", "VA1")  # would need api_key too: refused
    with pytest.raises(typer.Exit):
        _credentials("tradier", AuthChoice.oauth)
