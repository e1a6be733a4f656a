"""The Alpaca Trading API v2 adapter: AlpacaGateway implements the domain's BrokerGateway port."""

from .config import AlpacaConfig, credentials_from_env
from .errors import (
    AlpacaAmbiguousOutcomeError,
    AlpacaAuthenticationError,
    AlpacaDuplicateClientOrderIdError,
    AlpacaError,
    AlpacaInsufficientFundsError,
    AlpacaOrderNotCancelableError,
    AlpacaOrderNotFoundError,
    AlpacaProtocolError,
    AlpacaRateLimitedError,
    AlpacaRejectedError,
    AlpacaUnavailableError,
    AlpacaUnsupportedOrderError,
)
from .gateway import ALPACA_CAPABILITIES, BROKER_NAME, AlpacaGateway

__all__ = [
    "ALPACA_CAPABILITIES",
    "BROKER_NAME",
    "AlpacaAmbiguousOutcomeError",
    "AlpacaAuthenticationError",
    "AlpacaConfig",
    "AlpacaDuplicateClientOrderIdError",
    "AlpacaError",
    "AlpacaGateway",
    "AlpacaInsufficientFundsError",
    "AlpacaOrderNotCancelableError",
    "AlpacaOrderNotFoundError",
    "AlpacaProtocolError",
    "AlpacaRateLimitedError",
    "AlpacaRejectedError",
    "AlpacaUnavailableError",
    "AlpacaUnsupportedOrderError",
    "credentials_from_env",
]
