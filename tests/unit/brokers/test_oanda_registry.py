"""OANDA in the broker registry: gateway, honest capabilities, and where its token comes from."""

from __future__ import annotations

import pytest

from brokers.oanda import OandaGateway
from brokers.oanda.config import OandaConfig, credentials_from_env
from brokers.registry import GatewayRegistry, capabilities_of, env_credentials, oanda_env_credentials
from domain.broker_integration import AssetClass, BrokerConnection, BrokerOrder, Environment, ExecutionParameters
from domain.broker_integration.rules.validation import capability_problems


async def test_an_oanda_connection_gets_an_oanda_gateway_on_its_base_url() -> None:
    registry = GatewayRegistry(env_credentials)
    gateway = registry.gateway_for(BrokerConnection(connection_id="o", broker="OANDA",
                                                    base_url="http://127.0.0.1:8787"))
    assert isinstance(gateway, OandaGateway) and gateway.config.api_url == "http://127.0.0.1:8787"
    assert gateway.config.streaming_url == "http://127.0.0.1:8787"
    assert gateway._session._source is oanda_env_credentials, "Alpaca's variables are not OANDA's"
    await registry.aclose()


def test_hosts_follow_the_environment() -> None:
    assert OandaConfig().api_url == "https://api-fxpractice.oanda.com"
    live = OandaConfig(environment=Environment.LIVE)
    assert (live.api_url, live.streaming_url) == ("https://api-fxtrade.oanda.com", "https://stream-fxtrade.oanda.com")


async def test_oanda_credentials_come_from_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OANDA_ACCESS_TOKEN", "tok")
    monkeypatch.setenv("OANDA_ACCOUNT_ID", "101-001-1-001")
    found = await oanda_env_credentials("o")
    assert found is not None and found.secret_values()["access_token"] == "tok" and found.api_key == "101-001-1-001"
    assert credentials_from_env({}) is None


def test_capabilities_are_honest() -> None:
    caps = capabilities_of("oanda")
    assert caps.asset_classes == frozenset({AssetClass.FOREX}) and not caps.supports_fractional
    assert caps.supports_short and caps.supports_replace and not caps.replace_keeps_id
    equity = BrokerOrder(client_order_id="e", symbol="AAPL", side="BUY", quantity="1")
    assert [p.field for p in capability_problems(equity, caps)] == ["asset_class"]
    stop_limit = BrokerOrder(client_order_id="f", symbol="EUR/USD", side="BUY", quantity="1000", asset_class="FOREX",
                             order_type="STOP_LIMIT", price="1.1", stop_price="1.1",
                             execution_params=ExecutionParameters(time_in_force="GTC"))
    assert [str(p) for p in capability_problems(stop_limit, caps)] == ["order_type: oanda does not support STOP_LIMIT"]
    pips = BrokerOrder(client_order_id="g", symbol="EUR/USD", side="BUY", quantity="1000.5", asset_class="FOREX",
                       order_type="LIMIT", price="1.100001", execution_params=ExecutionParameters(time_in_force="GTC"))
    assert [p.field for p in capability_problems(pips, caps)] == ["quantity", "price"]
