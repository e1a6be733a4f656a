"""Which exchange (a ccxt exchange id), where it lives (its own URLs, its sandbox, or a base URL such as a
local simulator), which markets a connection follows, and where the API key pair comes from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from domain.broker_integration.enums import Environment
from domain.broker_integration.value_objects import ConnectionCredentials

__all__ = [
    "DEFAULT_EXCHANGE",
    "ENV_API_KEY",
    "ENV_API_SECRET",
    "ENV_EXCHANGE_ID",
    "CcxtConfig",
    "credentials_from_env",
    "rehosted",
]

DEFAULT_EXCHANGE = "binance"
ENV_API_KEY = "CCXT_API_KEY"
ENV_API_SECRET = "CCXT_API_SECRET"
ENV_EXCHANGE_ID = "CCXT_EXCHANGE_ID"

# Where each exchange's spot REST API sits under a base URL override, per ccxt `urls['api']` group.
_SPOT_PATHS: dict[str, dict[str, str]] = {
    "binance": {"public": "/api/v3", "private": "/api/v3"},
}
# Loading markets must not reach beyond spot: no currency list (sapi), no margin pairs, no futures markets.
_SPOT_ONLY_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
                "defaultType": "spot", "warnOnFetchOpenOrdersWithoutSymbol": False},
}


class CcxtConfig(BaseModel):
    """One ccxt exchange connection; `base_url` points every spot API group at another host (a simulator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange_id: str = Field(default=DEFAULT_EXCHANGE, pattern=r"^[a-z0-9]+$")
    environment: Environment = Environment.PAPER
    base_url: str | None = None
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")  # markets followed for lookups and trade polling
    quote_currency: str = "USDT"  # the account's cash
    timeout: float = Field(default=10.0, gt=0)
    recv_window_ms: int = Field(default=10_000, gt=0, le=60_000)
    poll_interval: float = Field(default=1.0, gt=0)
    poll_backoff_max: float = Field(default=30.0, gt=0)
    poll_failures_before_error: int = Field(default=5, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)  # more ccxt options, deep-merged over ours

    def urls(self) -> dict[str, Any] | None:
        """ccxt's `urls` override for `base_url` (deep-merged by ccxt), None to keep the exchange's own."""
        if not self.base_url:
            return None
        base = self.base_url.rstrip("/")
        paths = _SPOT_PATHS.get(self.exchange_id, {"public": "", "private": ""})
        return {"api": {group: base + path for group, path in paths.items()}}

    def exchange_params(self, api_key: str | None, secret: str | None) -> dict[str, Any]:
        """The constructor argument of the ccxt exchange class (it holds the secret: never log it)."""
        options = {**_SPOT_ONLY_OPTIONS.get(self.exchange_id, {}), "recvWindow": self.recv_window_ms,
                   **self.options}
        params: dict[str, Any] = {"enableRateLimit": True, "timeout": int(self.timeout * 1000), "options": options}
        if api_key:
            params["apiKey"] = api_key
        if secret:
            params["secret"] = secret
        urls = self.urls()
        if urls is not None:
            params["urls"] = urls
        return params

    @property
    def use_sandbox(self) -> bool:
        """The exchange's own testnet for PAPER connections without a base URL."""
        return self.environment is Environment.PAPER and not self.base_url


def rehosted(api: Any, base_url: str) -> Any:
    """Every URL of ccxt's `urls['api']` (nested groups too) moved onto `base_url`, keeping its path: with a
    base URL set, no API group (Binance's sapi, fapi, ...) can still reach the real exchange."""
    if isinstance(api, str):
        return base_url.rstrip("/") + urlsplit(api).path
    if isinstance(api, dict):
        return {group: rehosted(url, base_url) for group, url in api.items()}
    return api


def credentials_from_env(environ: Mapping[str, str] | None = None) -> ConnectionCredentials | None:
    """The key pair from CCXT_API_KEY / CCXT_API_SECRET; None unless both are set."""
    env = os.environ if environ is None else environ
    key, secret = env.get(ENV_API_KEY, "").strip(), env.get(ENV_API_SECRET, "").strip()
    if not key or not secret:
        return None
    return ConnectionCredentials(api_key=key, api_secret=SecretStr(secret))
