"""Tradier in the broker registry: gateway, honest capabilities, and where its credentials come from."""

from __future__ import annotations

import pytest

from brokers.registry import GatewayRegistry, capabilities_of, env_credentials, tradier_env_credentials
from brokers.tradier import TradierGateway
from domain.broker_integration import BrokerConnection, BrokerOrder, ExecutionParameters
from domain.broker_integration.rules.validation import capability_problems
from starter.credentials_input import credential_env_names, default_base_url


async def test_a_tradier_connection_gets_a_tradier_gateway_on_its_base_url() -> None:
    registry = GatewayRegistry(env_credentials)
    gateway = registry.gateway_for(BrokerConnection(connection_id="t", broker="Tradier",
                                                    base_url="http://127.0.0.1:8787"))
    assert isinstance(gateway, TradierGateway) and gateway.config.api_url == "http://127.0.0.1:8787"
    assert gateway._session._source is tradier_env_credentials, "Alpaca's variables are not Tradier's"
    await registry.aclose()


async def test_tradier_credentials_come_from_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADIER_ACCESS_TOKEN", "tok")
    found = await tradier_env_credentials("t")
    assert found is not None and found.secret_values()["access_token"] == "tok"
    assert credential_env_names("tradier", "access_token") == ["BROKERFLOW_ACCESS_TOKEN", "TRADIER_ACCESS_TOKEN"]
    assert default_base_url("tradier", "PAPER") == "https://sandbox.tradier.com"  # type: ignore[arg-type]


@pytest.mark.parametrize(("fields", "field"), [
    ({"order_type": "TRAILING_STOP", "trail_price": "1", "side": "SELL"}, "order_type"),
    ({"execution_params": ExecutionParameters(time_in_force="FOK")}, "execution_params.time_in_force"),
    ({"quantity": "0.5"}, "quantity"),
    ({"asset_class": "CRYPTO"}, "asset_class"),
    ({"order_type": "LIMIT", "price": "10", "execution_params": ExecutionParameters(extended_hours=True)},
     "execution_params.extended_hours"),
])
def test_what_tradier_cannot_do_is_a_validation_problem(fields: dict[str, object], field: str) -> None:
    order = BrokerOrder(**({"client_order_id": "c-1", "symbol": "AAPL", "side": "BUY", "quantity": "1"} | fields))
    problems = capability_problems(order, capabilities_of("tradier"))
    assert [p.field for p in problems] == [field] and "tradier" in str(problems[0])
    if field != "asset_class":  # Alpaca trades no options either
        assert capability_problems(order, capabilities_of("alpaca")) == [], "Alpaca can do it: a Tradier limit"
