"""Where Tradier lives (sandbox, live or any base URL such as a local simulator) and how to find the token."""

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
    "SANDBOX_STREAM_URL",
    "SANDBOX_URL",
    "TradierConfig",
    "credentials_from_env",
]

LIVE_URL = "https://api.tradier.com"
SANDBOX_URL = "https://sandbox.tradier.com"
LIVE_STREAM_URL = "wss://ws.tradier.com/v1/accounts/events"
SANDBOX_STREAM_URL = "wss://sandbox-ws.tradier.com/v1/accounts/events"
EVENTS_PATH = "/v1/accounts/events"

ENV_ACCESS_TOKEN = "TRADIER_ACCESS_TOKEN"
# Optional: pins the connection to one account of the token's (else every account of the profile).
ENV_ACCOUNT_ID = "TRADIER_ACCOUNT_ID"


class TradierConfig(BaseModel):
    """Endpoints and timeouts of one Tradier connection; URLs left None follow the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: Environment = Environment.PAPER
    base_url: str | None = None
    stream_url: str | None = None
    timeout: float = Field(default=10.0, gt=0)
    connect_timeout: float = Field(default=5.0, gt=0)
    max_rate_limit_wait: float = Field(default=5.0, ge=0)
    rate_limit_retries: int = Field(default=1, ge=0)
    user_agent: str = "brokerflow-tradier/0.1"
    stream_backoff_initial: float = Field(default=0.5, gt=0)
    stream_backoff_max: float = Field(default=30.0, gt=0)
    stream_ping_interval: float = Field(default=15.0, gt=0)
    # Heartbeats come about once a minute; this long without any frame means the socket is dead.
    stream_idle_timeout: float = Field(default=150.0, gt=0)
    gap_margin_seconds: float = Field(default=5.0, ge=0)

    @property
    def api_url(self) -> str:
        """The REST base URL (no trailing slash, no /v1): sandbox for PAPER, api for LIVE, unless given."""
        if self.base_url:
            return self.base_url.rstrip("/")
        return LIVE_URL if self.environment is Environment.LIVE else SANDBOX_URL

    @property
    def events_url(self) -> str:
        """The account events WebSocket: Tradier's ws host, or ws(s)://<base host>/v1/accounts/events."""
        if self.stream_url:
            return self.stream_url
        if not self.base_url:
            return LIVE_STREAM_URL if self.environment is Environment.LIVE else SANDBOX_STREAM_URL
        url = self.api_url
        if url.startswith("https://"):
            return "wss://" + url.removeprefix("https://") + EVENTS_PATH
        return "ws://" + url.removeprefix("http://") + EVENTS_PATH


def credentials_from_env(environ: Mapping[str, str] | None = None) -> ConnectionCredentials | None:
    """The access token from TRADIER_ACCESS_TOKEN (and an account from TRADIER_ACCOUNT_ID); None when unset."""
    env = os.environ if environ is None else environ
    token = env.get(ENV_ACCESS_TOKEN, "").strip()
    if not token:
        return None
    account = env.get(ENV_ACCOUNT_ID, "").strip() or None
    return ConnectionCredentials(api_key=account, access_token=SecretStr(token))
