"""Where `connection add` finds credentials: environment variables first, then a (hidden) prompt.

Generic names work for every broker; a broker's own names (Alpaca's ``APCA_*``, as its SDKs read
them) are tried after them. Values are never taken from command-line arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import SecretStr

from brokers.alpaca.config import ENV_KEY_ID, ENV_OAUTH_TOKEN, ENV_SECRET_KEY, AlpacaConfig
from brokers.ccxt.config import ENV_API_KEY as CCXT_API_KEY
from brokers.ccxt.config import ENV_API_SECRET as CCXT_API_SECRET
from brokers.oanda.config import ENV_ACCESS_TOKEN as OANDA_ACCESS_TOKEN
from brokers.oanda.config import OandaConfig
from brokers.tradier.config import ENV_ACCESS_TOKEN as TRADIER_ACCESS_TOKEN
from brokers.tradier.config import ENV_CLIENT_ID as TRADIER_CLIENT_ID
from brokers.tradier.config import ENV_CLIENT_SECRET as TRADIER_CLIENT_SECRET
from brokers.tradier.config import ENV_REFRESH_TOKEN as TRADIER_REFRESH_TOKEN
from brokers.tradier.config import TradierConfig
from domain.broker_integration import ConnectionCredentials, DomainValidationError, Environment, Problem

__all__ = ["GENERIC_ENV", "credential_env_names", "default_base_url", "read_credentials",
           "read_refresh_credentials"]

GENERIC_ENV = {
    "api_key": "BROKERFLOW_API_KEY",
    "api_secret": "BROKERFLOW_API_SECRET",
    "access_token": "BROKERFLOW_ACCESS_TOKEN",
}
_BROKER_ENV: dict[str, dict[str, str]] = {
    "alpaca": {"api_key": ENV_KEY_ID, "api_secret": ENV_SECRET_KEY, "access_token": ENV_OAUTH_TOKEN},
    "tradier": {"access_token": TRADIER_ACCESS_TOKEN},
    "oanda": {"access_token": OANDA_ACCESS_TOKEN},
    "ccxt": {"api_key": CCXT_API_KEY, "api_secret": CCXT_API_SECRET},
}
# What a broker's token refresher needs, from the environment only (all or none): for Tradier the partner
# application's OAuth client id and secret (kept in api_key / api_secret) and the user's refresh token.
_REFRESH_ENV: dict[str, dict[str, str]] = {
    "tradier": {"api_key": TRADIER_CLIENT_ID, "api_secret": TRADIER_CLIENT_SECRET,
                "refresh_token": TRADIER_REFRESH_TOKEN},
}
_LABELS = {"api_key": "API key id", "api_secret": "API secret", "access_token": "OAuth access token"}
_BASE_URLS: dict[str, Callable[[Environment], str]] = {
    "alpaca": lambda environment: AlpacaConfig(environment=environment).trading_url,
    "tradier": lambda environment: TradierConfig(environment=environment).api_url,
    "oanda": lambda environment: OandaConfig(environment=environment).api_url,
}

Prompt = Callable[[str], str]


def credential_env_names(broker: str, field: str) -> list[str]:
    """Return the variables read for one credential field, in order of precedence."""
    names = [GENERIC_ENV[field]]
    own = _BROKER_ENV.get(broker.lower(), {}).get(field)
    return [*names, own] if own else names


def default_base_url(broker: str, environment: Environment) -> str | None:
    """Return the broker's API URL for ``environment`` (None when the adapter decides alone)."""
    pick = _BASE_URLS.get(broker.lower())
    return pick(environment) if pick else None


def read_credentials(
    broker: str, fields: Sequence[str], environ: Mapping[str, str], prompt: Prompt
) -> tuple[ConnectionCredentials, list[str]]:
    """Return the credentials and where each came from (variable names or 'prompt', never values).

    Raises DomainValidationError when a value is empty; the prompt may raise to abort.
    """
    values: dict[str, str] = {}
    sources: list[str] = []
    problems: list[Problem] = []
    for field in fields:
        names = credential_env_names(broker, field)
        found = next((name for name in names if environ.get(name, "").strip()), None)
        if found:
            value, source = environ[found], found
        else:
            value, source = prompt(f"{_LABELS[field]} (or set {' / '.join(names)})"), "prompt"
        if not value.strip():
            problems.append(Problem(field, f"is empty; set {' or '.join(names)} or enter it at the prompt"))
        values[field] = value.strip()
        sources.append(f"{field}: {source}")
    if problems:
        raise DomainValidationError(problems, subject="credentials")
    return ConnectionCredentials(**values), sources


def read_refresh_credentials(broker: str, environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Return the token-refresh fields set in the environment (as credential updates) and their sources.

    Raises DomainValidationError when only some of the broker's refresh variables are set.
    """
    names = _REFRESH_ENV.get(broker.lower(), {})
    found = {field: environ[name].strip() for field, name in names.items() if environ.get(name, "").strip()}
    if found and len(found) < len(names):
        missing = [name for field, name in names.items() if field not in found]
        raise DomainValidationError([Problem("refresh", f"set {' and '.join(missing)} too, or none of "
                                             f"{', '.join(names.values())}")], subject="credentials")
    updates: dict[str, Any] = {f: v if f == "api_key" else SecretStr(v) for f, v in found.items()}
    return updates, [f"{field}: {names[field]}" for field in found]
