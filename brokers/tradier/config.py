"""Where Tradier lives (sandbox, live or any base URL such as a local simulator) and how to find the token.

What the ConnectionCredentials fields mean for Tradier:

* `access_token`: the OAuth bearer token; `token_expires_at`: when it expires (None: unknown).
* `refresh_token`: the OAuth refresh token of a partner application (rotated on every refresh).
* `api_key` / `api_secret`: with a secret, the partner application's OAuth client id and secret (only the
  token refresher uses them); without a secret, `api_key` pins the connection to one account number.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from domain.broker_integration.enums import Environment
from domain.broker_integration.value_objects import ConnectionCredentials

__all__ = [
    "ENV_ACCESS_TOKEN",
    "ENV_ACCOUNT_ID",
    "ENV_CLIENT_ID",
    "ENV_CLIENT_SECRET",
    "ENV_REFRESH_TOKEN",
    "LIVE_STREAM_URL",
    "LIVE_URL",
    "SANDBOX_STREAM_URL",
    "SANDBOX_URL",
    "TradierConfig",
    "account_pin",
    "credentials_from_env",
    "oauth_client",
]

LIVE_URL = "https://api.tradier.com"
SANDBOX_URL = "https://sandbox.tradier.com"
LIVE_STREAM_URL = "wss://ws.tradier.com/v1/accounts/events"
SANDBOX_STREAM_URL = "wss://sandbox-ws.tradier.com/v1/accounts/events"
EVENTS_PATH = "/v1/accounts/events"

ENV_ACCESS_TOKEN = "TRADIER_ACCESS_TOKEN"
# Optional: pins the connection to one account of the token's (else every account of the profile).
ENV_ACCOUNT_ID = "TRADIER_ACCOUNT_ID"
# Optional, for token refresh: the partner application's OAuth client and the user's refresh token.
ENV_CLIENT_ID = "TRADIER_CLIENT_ID"
ENV_CLIENT_SECRET = "TRADIER_CLIENT_SECRET"
ENV_REFRESH_TOKEN = "TRADIER_REFRESH_TOKEN"


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
    # Bracket/OCO/OTO groups as Tradier's own otoco/oco/oto classes (the capability `supports_order_classes`);
    # False leaves them to brokerflow's emulation with one order per leg.
    native_order_groups: bool = True

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


def account_pin(credentials: ConnectionCredentials) -> str | None:
    """The one account the connection uses: `api_key` unless it is an OAuth client id (a secret is stored)."""
    return credentials.api_key if credentials.api_secret is None else None


def oauth_client(credentials: ConnectionCredentials) -> tuple[str, str] | None:
    """The OAuth client id and secret stored in `api_key` / `api_secret`, if both are."""
    if not credentials.api_key or credentials.api_secret is None:
        return None
    return credentials.api_key, credentials.api_secret.get_secret_value()


def credentials_from_env(environ: Mapping[str, str] | None = None) -> ConnectionCredentials | None:
    """Credentials from TRADIER_ACCESS_TOKEN (an account from TRADIER_ACCOUNT_ID), and for refreshing from
    TRADIER_REFRESH_TOKEN, TRADIER_CLIENT_ID and TRADIER_CLIENT_SECRET; None when no token is set.

    With an OAuth client the account cannot be pinned (`api_key` holds the client id).
    """
    env = os.environ if environ is None else environ

    def value(name: str) -> str | None:
        return env.get(name, "").strip() or None

    token, refresh = value(ENV_ACCESS_TOKEN), value(ENV_REFRESH_TOKEN)
    if token is None and refresh is None:
        return None
    client_id, client_secret = value(ENV_CLIENT_ID), value(ENV_CLIENT_SECRET)
    client = client_id is not None and client_secret is not None
    return ConnectionCredentials(
        api_key=client_id if client else value(ENV_ACCOUNT_ID),
        api_secret=SecretStr(client_secret) if client and client_secret else None,
        access_token=SecretStr(token) if token else None,
        refresh_token=SecretStr(refresh) if refresh else None)
