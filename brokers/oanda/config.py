"""Where OANDA lives (practice, live or any base URL such as a local simulator) and how to find the token."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from domain.broker_integration.enums import Environment
from domain.broker_integration.value_objects import ConnectionCredentials

__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_ACCOUNT_ID",
    "LIVE_STREAM_URL",
    "LIVE_URL",
    "PRACTICE_STREAM_URL",
    "PRACTICE_URL",
    "OandaConfig",
    "credentials_from_env",
]

LIVE_URL = "https://api-fxtrade.oanda.com"
PRACTICE_URL = "https://api-fxpractice.oanda.com"
LIVE_STREAM_URL = "https://stream-fxtrade.oanda.com"
PRACTICE_STREAM_URL = "https://stream-fxpractice.oanda.com"

ENV_ACCESS_TOKEN = "OANDA_ACCESS_TOKEN"
# Optional: pins the connection to one v20 account of the token's (else every account it reaches).
ENV_ACCOUNT_ID = "OANDA_ACCOUNT_ID"


class OandaConfig(BaseModel):
    """Endpoints and timeouts of one OANDA connection; URLs left None follow the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = Environment.PAPER
    base_url: str | None = None
    stream_url: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    max_rate_limit_wait: float = Field(default=5.0, ge=0)
    rate_limit_retries: int = Field(default=1, ge=0)
    user_agent: str = "brokerflow-oanda/0.1"
    stream_backoff_initial: float = Field(default=0.5, gt=0)
    stream_backoff_max: float = Field(default=30.0, gt=0)
    # OANDA sends a heartbeat every few seconds; this long without a line means the connection is dead.
    stream_idle_timeout: float = Field(default=20.0, gt=0)
    transactions_page: int = Field(default=1000, ge=1, le=1000)
    # Instruments' margin rates rarely change: read once an hour per account (a minute after a failed read).
    margin_rates_ttl: float = Field(default=3600.0, ge=0)
    margin_rates_retry: float = Field(default=60.0, ge=0)

    @property
    def api_url(self) -> str:
        """The REST base URL (no trailing slash, no /v3): fxpractice for PAPER, fxtrade for LIVE, unless given."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return LIVE_URL if self.environment is Environment.LIVE else PRACTICE_URL

    @property
    def streaming_url(self) -> str:
        """The streaming host: OANDA's stream-* host, or the base URL when one is given (a simulator)."""
        if self.stream_url:
            return self.stream_url.rstrip("/")
        if self.base_url:
            return self.api_url
        return LIVE_STREAM_URL if self.environment is Environment.LIVE else PRACTICE_STREAM_URL


def credentials_from_env(environ: Mapping[str, str] | None = None) -> ConnectionCredentials | None:
    """The token from OANDA_ACCESS_TOKEN (and an account from OANDA_ACCOUNT_ID); None when unset."""
    env = os.environ if environ is None else environ
    token = env.get(ENV_ACCESS_TOKEN, "").strip()
    if not token:
        return None
    account = env.get(ENV_ACCOUNT_ID, "").strip() or None
    return ConnectionCredentials(api_key=account, access_token=SecretStr(token))
