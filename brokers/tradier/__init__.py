"""The Tradier brokerage API v1 adapter: TradierGateway implements the domain's BrokerGateway port (equities and
equity options; bracket/OCO/OTO groups as Tradier's otoco/oco/oto classes)."""

from .config import TradierConfig, credentials_from_env
from .errors import (
    TradierAmbiguousOutcomeError,
    TradierAuthenticationError,
    TradierDuplicateTagError,
    TradierError,
    TradierInsufficientFundsError,
    TradierOrderNotCancelableError,
    TradierOrderNotFoundError,
    TradierPositionEffectError,
    TradierProtocolError,
    TradierRateLimitedError,
    TradierRejectedError,
    TradierTokenRefreshError,
    TradierUnavailableError,
    TradierUnsupportedOrderError,
)
from .gateway import BROKER_NAME, TRADIER_CAPABILITIES, TradierGateway
from .oauth import TradierTokenRefresher

__all__ = [
    "BROKER_NAME",
    "TRADIER_CAPABILITIES",
    "TradierAmbiguousOutcomeError",
    "TradierAuthenticationError",
    "TradierConfig",
    "TradierDuplicateTagError",
    "TradierError",
    "TradierGateway",
    "TradierInsufficientFundsError",
    "TradierOrderNotCancelableError",
    "TradierOrderNotFoundError",
    "TradierPositionEffectError",
    "TradierProtocolError",
    "TradierRateLimitedError",
    "TradierRejectedError",
    "TradierTokenRefreshError",
    "TradierTokenRefresher",
    "TradierUnavailableError",
    "TradierUnsupportedOrderError",
    "credentials_from_env",
]
