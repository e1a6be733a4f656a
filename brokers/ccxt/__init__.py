"""Crypto exchanges through ccxt's async API (Binance spot first): CcxtGateway implements BrokerGateway."""

from .config import CcxtConfig, credentials_from_env
from .errors import (
    CcxtAmbiguousOutcomeError,
    CcxtAuthenticationError,
    CcxtDuplicateOrderError,
    CcxtError,
    CcxtInsufficientFundsError,
    CcxtOrderNotCancelableError,
    CcxtOrderNotFoundError,
    CcxtProtocolError,
    CcxtRateLimitedError,
    CcxtRejectedError,
    CcxtUnavailableError,
    CcxtUnsupportedOrderError,
)
from .gateway import BROKER_NAME, CCXT_CAPABILITIES, CcxtGateway

__all__ = [
    "BROKER_NAME",
    "CCXT_CAPABILITIES",
    "CcxtAmbiguousOutcomeError",
    "CcxtAuthenticationError",
    "CcxtConfig",
    "CcxtDuplicateOrderError",
    "CcxtError",
    "CcxtGateway",
    "CcxtInsufficientFundsError",
    "CcxtOrderNotCancelableError",
    "CcxtOrderNotFoundError",
    "CcxtProtocolError",
    "CcxtRateLimitedError",
    "CcxtRejectedError",
    "CcxtUnavailableError",
    "CcxtUnsupportedOrderError",
    "credentials_from_env",
]
