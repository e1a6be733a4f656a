"""Where Alpaca lives (paper, live or any base URL such as a local simulator) and how to find the keys."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from domain.broker_integration.enums import Environment
from domain.broker_integration.value_objects import ConnectionCredentials

__all__ = [
    "DATA_URL",
    "ENV_BASE_URL",
    "ENV_DATA_URL",
    "ENV_KEY_ID",
    "ENV_OAUTH_TOKEN",
    "ENV_SECRET_KEY",
    "ENV_STREAM_URL",
    "LIVE_URL",
    "PAPER_URL",
    "AlpacaConfig",
    "credentials_from_env",
]

PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_URL = "https://data.alpaca.markets"

# The names Alpaca's own SDKs read (alpaca-trade-api; alpaca-py examples).
ENV_KEY_ID = "APCA_API_KEY_ID"
ENV_SECRET_KEY = "APCA_API_SECRET_KEY"
ENV_OAUTH_TOKEN = "APCA_API_OAUTH_TOKEN"
ENV_BASE_URL = "APCA_API_BASE_URL"
ENV_DATA_URL = "APCA_API_DATA_URL"
ENV_STREAM_URL = "APCA_API_STREAM_URL"


def _strip(url: str) -> str:
    # alpaca-py builds base_url + "/v2/..."; a trailing slash would give "//v2".
    return url.rstrip("/")


class AlpacaConfig(BaseModel):
    """Endpoints and timeouts of one Alpaca connection; URLs left None follow the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = Environment.PAPER
    base_url: str | None = None
    data_url: str | None = None
    stream_url: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    max_rate_limit_wait: float = Field(default=5.0, ge=0)
    rate_limit_retries: int = Field(default=1, ge=0)
    user_agent: str = "brokerflow-alpaca/0.1"
    stream_backoff_initial: float = Field(default=0.5, gt=0)
    stream_backoff_max: float = Field(default=30.0, gt=0)
    stream_ping_interval: float = Field(default=15.0, gt=0)
    gap_margin_seconds: float = Field(default=5.0, ge=0)

    @property
    def trading_url(self) -> str:
        """The REST base URL (no trailing slash, no /v2)."""
        if self.base_url:
            return _strip(self.base_url)
        return LIVE_URL if self.environment is Environment.LIVE else PAPER_URL

    @property
    def market_data_url(self) -> str:
        """The market data base URL; a custom trading URL (a simulator) serves data itself."""
        if self.data_url:
            return _strip(self.data_url)
        return self.trading_url if self.base_url else DATA_URL

    @property
    def trade_stream_url(self) -> str:
        """The trade_updates WebSocket URL: ws(s)://<trading host>/stream unless given."""
        if self.stream_url:
            return self.stream_url
        url = self.trading_url
        if url.startswith("https://"):
            return "wss://" + url.removeprefix("https://") + "/stream"
        return "ws://" + url.removeprefix("http://") + "/stream"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AlpacaConfig:
        """Build from APCA_API_BASE_URL / APCA_API_DATA_URL / APCA_API_STREAM_URL when set."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "base_url": env.get(ENV_BASE_URL) or None,
            "data_url": env.get(ENV_DATA_URL) or None,
            "stream_url": env.get(ENV_STREAM_URL) or None,
        }
        if values["base_url"] and _strip(values["base_url"]) == LIVE_URL:
            values["environment"] = Environment.LIVE
        values.update(overrides)
        return cls(**values)


def credentials_from_env(environ: Mapping[str, str] | None = None) -> ConnectionCredentials | None:
    """Key id and secret (or an OAuth token) from the APCA_* variables; None when unset."""
    env = os.environ if environ is None else environ
    key_id, secret = env.get(ENV_KEY_ID), env.get(ENV_SECRET_KEY)
    if key_id and secret:
        return ConnectionCredentials(api_key=key_id, api_secret=SecretStr(secret))
    token = env.get(ENV_OAUTH_TOKEN)
    if token:
        return ConnectionCredentials(access_token=SecretStr(token))
    return None
