"""Alpaca endpoints per environment or base URL, and credentials from the APCA_* variables."""

from __future__ import annotations

from brokers.alpaca.config import AlpacaConfig, credentials_from_env
from domain.broker_integration import AuthMethod, Environment


def test_paper_and_live_hosts() -> None:
    paper = AlpacaConfig()
    assert (paper.trading_url, paper.market_data_url, paper.trade_stream_url) == (
        "https://paper-api.alpaca.markets", "https://data.alpaca.markets", "wss://paper-api.alpaca.markets/stream")
    live = AlpacaConfig(environment=Environment.LIVE)
    assert live.trading_url == "https://api.alpaca.markets"
    assert live.trade_stream_url == "wss://api.alpaca.markets/stream"


def test_any_base_url_serves_everything_unless_told() -> None:
    local = AlpacaConfig(base_url="http://127.0.0.1:8080/")
    assert local.trading_url == local.market_data_url == "http://127.0.0.1:8080"
    assert local.trade_stream_url == "ws://127.0.0.1:8080/stream"
    split = AlpacaConfig(base_url="http://a", data_url="http://b/", stream_url="ws://c/s")
    assert (split.market_data_url, split.trade_stream_url) == ("http://b", "ws://c/s")


def test_config_from_env() -> None:
    config = AlpacaConfig.from_env({"APCA_API_BASE_URL": "https://api.alpaca.markets"})
    assert config.environment is Environment.LIVE
    assert AlpacaConfig.from_env({}).trading_url == "https://paper-api.alpaca.markets"


def test_credentials_from_env_like_the_sdk() -> None:
    keys = credentials_from_env({"APCA_API_KEY_ID": "PK1", "APCA_API_SECRET_KEY": "xyz-hidden"})
    assert keys is not None and keys.auth_method is AuthMethod.API_KEY and "xyz-hidden" not in repr(keys)
    token = credentials_from_env({"APCA_API_OAUTH_TOKEN": "tok"})
    assert token is not None and token.auth_method is AuthMethod.OAUTH2
    assert credentials_from_env({"APCA_API_KEY_ID": "only"}) is None
