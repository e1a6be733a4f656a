"""Broker name -> gateway factory and capabilities; the process-wide gateway provider and clock."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.broker_integration import runtime
from domain.broker_integration.entities import BrokerConnection
from domain.broker_integration.errors import ConfigurationError
from domain.broker_integration.ports import BrokerGateway
from domain.broker_integration.value_objects import BrokerCapabilities, ConnectionCredentials

from .alpaca.config import AlpacaConfig, credentials_from_env
from .alpaca.gateway import ALPACA_CAPABILITIES, AlpacaGateway
from .alpaca.sessions import CredentialsSource
from .ccxt.capabilities import CCXT_CAPABILITIES
from .ccxt.config import ENV_EXCHANGE_ID, CcxtConfig
from .ccxt.config import credentials_from_env as ccxt_credentials_from_env
from .oanda.config import OandaConfig
from .oanda.config import credentials_from_env as oanda_credentials_from_env
from .oanda.gateway import OANDA_CAPABILITIES, OandaGateway
from .tradier.config import TradierConfig
from .tradier.config import credentials_from_env as tradier_credentials_from_env
from .tradier.gateway import TRADIER_CAPABILITIES, TradierGateway
from .tradier.oauth import TradierTokenRefresher

__all__ = [
    "BROKERS",
    "BrokerEntry",
    "GatewayFactory",
    "GatewayRegistry",
    "SystemClock",
    "broker_names",
    "capabilities_of",
    "ccxt_env_credentials",
    "env_credentials",
    "install_defaults",
    "oanda_env_credentials",
    "register_broker",
    "tradier_env_credentials",
]

GatewayFactory = Callable[[BrokerConnection, CredentialsSource | None], BrokerGateway]


@dataclass(frozen=True)
class BrokerEntry:
    """A broker the registry can build gateways for."""

    name: str
    factory: GatewayFactory
    capabilities: BrokerCapabilities


def _alpaca(connection: BrokerConnection, credentials: CredentialsSource | None) -> BrokerGateway:
    config = AlpacaConfig(environment=connection.environment, base_url=connection.base_url)
    return AlpacaGateway(connection.connection_id, config, credentials=credentials)


def _tradier(connection: BrokerConnection, credentials: CredentialsSource | None) -> BrokerGateway:
    config = TradierConfig(environment=connection.environment, base_url=connection.base_url)
    # The default source reads Alpaca's variables; a Tradier connection reads TRADIER_ACCESS_TOKEN instead.
    source = tradier_env_credentials if credentials is env_credentials else credentials
    return TradierGateway(connection.connection_id, config, credentials=source)


def _oanda(connection: BrokerConnection, credentials: CredentialsSource | None) -> BrokerGateway:
    config = OandaConfig(environment=connection.environment, base_url=connection.base_url)
    # The default source reads Alpaca's variables; an OANDA connection reads OANDA_ACCESS_TOKEN instead.
    source = oanda_env_credentials if credentials is env_credentials else credentials
    return OandaGateway(connection.connection_id, config, credentials=source)



def _ccxt(connection: BrokerConnection, credentials: CredentialsSource | None) -> BrokerGateway:
    from .ccxt.gateway import CcxtGateway  # ccxt itself is imported by the first ccxt connection only

    # The exchange is a ccxt id (CCXT_EXCHANGE_ID, default binance); the connection's base URL overrides its URLs.
    exchange = os.environ.get(ENV_EXCHANGE_ID, "").strip().lower() or CcxtConfig().exchange_id
    config = CcxtConfig(exchange_id=exchange, environment=connection.environment, base_url=connection.base_url)
    source = ccxt_env_credentials if credentials is env_credentials else credentials
    return CcxtGateway(connection.connection_id, config, credentials=source)


BROKERS: dict[str, BrokerEntry] = {
    "alpaca": BrokerEntry("alpaca", _alpaca, ALPACA_CAPABILITIES),
    "tradier": BrokerEntry("tradier", _tradier, TRADIER_CAPABILITIES),
    "oanda": BrokerEntry("oanda", _oanda, OANDA_CAPABILITIES),
    "ccxt": BrokerEntry("ccxt", _ccxt, CCXT_CAPABILITIES),
}


def register_broker(entry: BrokerEntry) -> None:
    """Add (or replace) a broker."""
    BROKERS[entry.name.lower()] = entry


def broker_names() -> list[str]:
    """The brokers gateways can be built for."""
    return sorted(BROKERS)


def _entry(broker: str) -> BrokerEntry:
    entry = BROKERS.get(broker.strip().lower())
    if entry is None:
        raise ConfigurationError(f"unknown broker {broker!r}; known: {', '.join(broker_names())}")
    return entry


def capabilities_of(broker: str) -> BrokerCapabilities:
    """What a broker supports."""
    return _entry(broker).capabilities


async def env_credentials(connection_id: str) -> ConnectionCredentials | None:
    """Credentials from APCA_API_KEY_ID / APCA_API_SECRET_KEY (or APCA_API_OAUTH_TOKEN)."""
    return credentials_from_env()


async def tradier_env_credentials(connection_id: str) -> ConnectionCredentials | None:
    """The token from TRADIER_ACCESS_TOKEN (and an account from TRADIER_ACCOUNT_ID)."""
    return tradier_credentials_from_env()


async def oanda_env_credentials(connection_id: str) -> ConnectionCredentials | None:
    """The token from OANDA_ACCESS_TOKEN (and an account from OANDA_ACCOUNT_ID)."""
    return oanda_credentials_from_env()


async def ccxt_env_credentials(connection_id: str) -> ConnectionCredentials | None:
    """The key pair from CCXT_API_KEY / CCXT_API_SECRET."""
    return ccxt_credentials_from_env()


class SystemClock:
    """The wall clock, timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


class GatewayRegistry:
    """Builds one gateway per connection and keeps it while the connection's broker and URL stay the same."""

    def __init__(self, credentials: CredentialsSource | None = None) -> None:
        self._credentials = credentials
        self._gateways: dict[str, tuple[tuple[str, str | None, str], BrokerGateway]] = {}
        self._retired: list[BrokerGateway] = []

    def gateway_for(self, connection: BrokerConnection) -> BrokerGateway:
        """The connection's gateway; built on first use (it logs in lazily through the credentials source)."""
        key = (connection.broker.strip().lower(), connection.base_url, str(connection.environment))
        cached = self._gateways.get(connection.connection_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        if cached is not None:
            self._retired.append(cached[1])
        gateway = _entry(connection.broker).factory(connection, self._credentials)
        self._gateways[connection.connection_id] = (key, gateway)
        return gateway

    async def aclose(self) -> None:
        """Close every gateway built so far."""
        gateways = [g for _, g in self._gateways.values()] + self._retired
        self._gateways, self._retired = {}, []
        for gateway in gateways:
            await gateway.close()


def install_defaults(credentials: CredentialsSource | None = env_credentials) -> GatewayRegistry:
    """Install a GatewayRegistry and the SystemClock as the domain's defaults, and the brokers' token
    refreshers into the worker's auth plugins; return the registry."""
    from activities.auth_plugins import AUTH_PLUGINS  # the supervisor's plugins live with the activities

    registry = GatewayRegistry(credentials)
    runtime.configure(gateways=registry, clock=SystemClock())
    if AUTH_PLUGINS.refresher_for("tradier") is None:  # keep one a test or an embedder installed
        AUTH_PLUGINS.register_refresher("tradier", TradierTokenRefresher())
    return registry
