"""ccxt in the broker registry: gateway, exchange id from the environment, honest capabilities, credentials."""

from __future__ import annotations

import pytest

from brokers.ccxt import CcxtGateway
from brokers.registry import GatewayRegistry, capabilities_of, ccxt_env_credentials, env_credentials
from domain.broker_integration import AssetClass, BrokerConnection, BrokerOrder, ExecutionParameters
from domain.broker_integration.rules.validation import capability_problems


async def test_a_ccxt_connection_gets_a_ccxt_gateway_on_its_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = GatewayRegistry(env_credentials)
    gateway = registry.gateway_for(BrokerConnection(connection_id="c", broker="ccxt", base_url="http://127.0.0.1:9"))
    assert isinstance(gateway, CcxtGateway) and gateway.config.exchange_id == "binance"
    assert gateway.config.urls() == {"api": {"public": "http://127.0.0.1:9/api/v3",
                                             "private": "http://127.0.0.1:9/api/v3"}}
    assert gateway._credentials is ccxt_env_credentials, "Alpaca's variables are not ccxt's"
    monkeypatch.setenv("CCXT_EXCHANGE_ID", "kraken")
    other = registry.gateway_for(BrokerConnection(connection_id="k", broker="ccxt"))
    assert isinstance(other, CcxtGateway) and other.config.exchange_id == "kraken"
    await registry.aclose()


async def test_ccxt_credentials_come_from_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCXT_API_KEY", "key")
    monkeypatch.setenv("CCXT_API_SECRET", "secret")
    found = await ccxt_env_credentials("c")
    assert found is not None and (found.api_key, found.secret_values()["api_secret"]) == ("key", "secret")


def test_capabilities_are_honest() -> None:
    caps = capabilities_of("ccxt")
    assert caps.asset_classes == frozenset({AssetClass.CRYPTO}) and caps.supports_fractional
    assert not caps.supports_short and not caps.supports_replace and not caps.supports_extended_hours
    equity = BrokerOrder(client_order_id="e", symbol="AAPL", side="BUY", quantity="1",
                         execution_params=ExecutionParameters(time_in_force="GTC"))
    assert [p.field for p in capability_problems(equity, caps)] == ["asset_class"]
    day = BrokerOrder(client_order_id="d", symbol="BTC/USDT", side="BUY", quantity="0.015", asset_class="CRYPTO")
    assert [str(p) for p in capability_problems(day, caps)] == ["execution_params.time_in_force: ccxt does not "
                                                               "support DAY"]
    fine = BrokerOrder(client_order_id="f", symbol="BTC/USDT", side="BUY", quantity="0.01500001",
                       asset_class="CRYPTO", order_type="STOP_LIMIT", price="60000.01", stop_price="59999.99",
                       execution_params=ExecutionParameters(time_in_force="FOK"))
    assert capability_problems(fine, caps) == []


async def test_a_ccxt_call_leaves_our_decimal_context_as_it_was() -> None:
    """ccxt's precision code sets ROUND_HALF_UP and traps Underflow on the current context: not on ours."""
    import decimal

    from brokers.ccxt.client import CcxtClient
    from brokers.ccxt.config import CcxtConfig

    class Exchange:
        async def fetch_balance(self) -> dict[str, object]:
            context = decimal.getcontext()  # what ccxt.base.decimal_to_precision does
            context.traps[decimal.Underflow] = True
            context.rounding = decimal.ROUND_HALF_UP
            return {"total": {}}

    decimal.setcontext(decimal.Context())  # this test's own context, whatever earlier tests left behind
    client = CcxtClient(CcxtConfig(), None, None, exchange=Exchange())
    assert await client.call("fetch_balance", client.exchange.fetch_balance) == {"total": {}}
    ours = decimal.getcontext()
    assert ours.rounding == decimal.ROUND_HALF_EVEN and not ours.traps[decimal.Underflow]
