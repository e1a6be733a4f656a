"""Crypto exchanges through ccxt's async API (Binance spot first): CcxtGateway implements BrokerGateway.

ccxt takes over a second to import, so the gateway and its errors are imported on first use (PEP 562): the
CLI, the worker and the registry load this package, its config and its capabilities without ccxt.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .capabilities import BROKER_NAME, CCXT_CAPABILITIES
from .config import CcxtConfig, credentials_from_env

if TYPE_CHECKING:
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
    from .gateway import CcxtGateway

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

_LAZY = {"CcxtGateway": ".gateway"} | {name: ".errors" for name in __all__ if name.endswith("Error")}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
