"""The OANDA v20 REST adapter (forex): OandaGateway implements the domain's BrokerGateway port."""

from .config import OandaConfig, credentials_from_env
from .errors import (
    OandaAmbiguousOutcomeError,
    OandaAuthenticationError,
    OandaDuplicateClientIdError,
    OandaError,
    OandaInsufficientMarginError,
    OandaOrderNotCancelableError,
    OandaOrderNotFoundError,
    OandaProtocolError,
    OandaRateLimitedError,
    OandaRejectedError,
    OandaUnavailableError,
    OandaUnsupportedOrderError,
)
from .gateway import BROKER_NAME, OANDA_CAPABILITIES, OandaGateway

__all__ = [
    "BROKER_NAME",
    "OANDA_CAPABILITIES",
    "OandaAmbiguousOutcomeError",
    "OandaAuthenticationError",
    "OandaConfig",
    "OandaDuplicateClientIdError",
    "OandaError",
    "OandaGateway",
    "OandaInsufficientMarginError",
    "OandaOrderNotCancelableError",
    "OandaOrderNotFoundError",
    "OandaProtocolError",
    "OandaRateLimitedError",
    "OandaRejectedError",
    "OandaUnavailableError",
    "OandaUnsupportedOrderError",
    "credentials_from_env",
]
