"""The broker registry: factories, caching per connection, and the installed runtime defaults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest

from brokers.alpaca import AlpacaGateway
from brokers.registry import GatewayRegistry, SystemClock, broker_names, capabilities_of, install_defaults
from domain.broker_integration import BrokerConnection, ConfigurationError, Environment, TimeInForce, runtime


@pytest.fixture(autouse=True)
def clean_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def test_alpaca_is_registered_with_its_capabilities() -> None:
    assert "alpaca" in broker_names()
    assert TimeInForce.GTD not in capabilities_of("Alpaca").time_in_force
    with pytest.raises(ConfigurationError):
        capabilities_of("nobroker")


async def test_gateway_per_connection_follows_url_and_environment() -> None:
    registry = GatewayRegistry()
    live = BrokerConnection(connection_id="c1", broker="alpaca", environment=Environment.LIVE)
    gateway = registry.gateway_for(live)
    assert isinstance(gateway, AlpacaGateway)
    assert gateway.config.trading_url == "https://api.alpaca.markets"
    assert registry.gateway_for(live) is gateway
    moved = live.model_copy(update={"base_url": "http://127.0.0.1:9999/"})
    local = registry.gateway_for(moved)
    assert local is not gateway and isinstance(local, AlpacaGateway)
    assert local.config.trade_stream_url == "ws://127.0.0.1:9999/stream"
    await registry.aclose()


def test_unknown_broker_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        GatewayRegistry().gateway_for(BrokerConnection(connection_id="x", broker="nobroker"))


def test_install_defaults_configures_the_domain() -> None:
    registry = install_defaults()
    assert runtime.default_gateways() is registry
    clock = runtime.default_clock()
    assert isinstance(clock, SystemClock) and clock.now().tzinfo is UTC
