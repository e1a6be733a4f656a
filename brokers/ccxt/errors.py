"""ccxt's exception classes mapped onto the domain's broker errors, each with is_retryable().

Exception tree (domain parent in brackets; the ccxt classes that map onto it after the colon)::

    CcxtError                                 [BrokerError]
    ├── CcxtAuthenticationError               [BrokerAuthenticationError]  AuthenticationError, PermissionDenied
    ├── CcxtRejectedError                     [BrokerRejectedError]        InvalidOrder, BadRequest, BadSymbol,
    │   │                                                                  NotSupported, other ExchangeError
    │   ├── CcxtInsufficientFundsError        InsufficientFunds
    │   ├── CcxtOrderNotCancelableError       cancel of an order that is already final
    │   ├── CcxtDuplicateOrderError           [BrokerDuplicateOrderError]  DuplicateOrderId, "Duplicate order sent."
    │   └── CcxtUnsupportedOrderError         refused before sending: capability, precision, minimums
    ├── CcxtOrderNotFoundError                [BrokerOrderNotFoundError]   OrderNotFound
    ├── CcxtRateLimitedError                  [BrokerRateLimitedError]     RateLimitExceeded, DDoSProtection
    ├── CcxtUnavailableError                  [BrokerUnavailableError]     ExchangeNotAvailable on a read or before
    │                                                                      connecting, OnMaintenance, InvalidNonce
    ├── CcxtAmbiguousOutcomeError             [AmbiguousOutcomeError]      a write that timed out, lost its
    │                                                                      connection or got a 5xx (Binance: the
    │                                                                      outcome of a 5xx is UNKNOWN),
    │                                                                      OperationFailed (-1001) on a write
    └── CcxtProtocolError                     [BrokerUnavailableError]     an answer we cannot read

Messages carry the call and the exchange's own code and message, never keys, secrets or signatures.
"""

from __future__ import annotations

import re
import socket

import aiohttp
import ccxt.async_support as ccxt

from domain.broker_integration.ports import (
    AmbiguousOutcomeError,
    BrokerAuthenticationError,
    BrokerDuplicateOrderError,
    BrokerError,
    BrokerOrderNotFoundError,
    BrokerRateLimitedError,
    BrokerRejectedError,
    BrokerUnavailableError,
)

__all__ = [
    "CcxtAmbiguousOutcomeError",
    "CcxtAuthenticationError",
    "CcxtDuplicateOrderError",
    "CcxtError",
    "CcxtInsufficientFundsError",
    "CcxtOrderNotCancelableError",
    "CcxtOrderNotFoundError",
    "CcxtProtocolError",
    "CcxtRateLimitedError",
    "CcxtRejectedError",
    "CcxtUnavailableError",
    "CcxtUnsupportedOrderError",
    "error_for",
]


class CcxtError(BrokerError):
    """Base of the ccxt adapter's errors."""


class CcxtAuthenticationError(CcxtError, BrokerAuthenticationError):
    """The key pair or the signature was refused."""


class CcxtRejectedError(CcxtError, BrokerRejectedError):
    """The exchange refused the request; repeating it will not help."""


class CcxtInsufficientFundsError(CcxtRejectedError):
    """Not enough of the asset the order spends."""


class CcxtOrderNotCancelableError(CcxtRejectedError):
    """The order is already final (filled, canceled, expired, rejected)."""


class CcxtDuplicateOrderError(CcxtRejectedError, BrokerDuplicateOrderError):
    """The client order id is taken: look the order up, never resend."""


class CcxtUnsupportedOrderError(CcxtRejectedError):
    """The order uses something the exchange (or this adapter) does not offer, or breaks the market's
    precision or minimums; refused before sending."""


class CcxtOrderNotFoundError(CcxtError, BrokerOrderNotFoundError):
    """No such order at the exchange."""


class CcxtRateLimitedError(CcxtError, BrokerRateLimitedError):
    """Too many requests (or too much request weight); wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, status_code: int | None = 429,
                 code: str | None = None) -> None:
        CcxtError.__init__(self, message, status_code=status_code, code=code)
        self.retry_after = retry_after


class CcxtUnavailableError(CcxtError, BrokerUnavailableError):
    """The exchange could not be reached or did nothing: safe to retry."""


class CcxtAmbiguousOutcomeError(CcxtError, AmbiguousOutcomeError):
    """The request was sent but its outcome is unknown: look the order up before retrying."""


class CcxtProtocolError(CcxtError, BrokerUnavailableError):
    """The exchange answered with something we cannot read."""


_SIGNED_QUERY = re.compile(r"\?\S*")
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def _clean(exc: BaseException) -> str:
    """ccxt's message without query strings (they carry signatures), shortened."""
    return _SIGNED_QUERY.sub("?…", str(exc))[:300]


def _not_sent(exc: BaseException) -> bool:
    """Whether the request provably never left: DNS failure or the connection could not be opened."""
    cause = exc.__cause__
    return isinstance(cause, aiohttp.ClientConnectorError | socket.gaierror)


def _network(exc: ccxt.OperationFailed, what: str, write: bool) -> CcxtError:
    if isinstance(exc, ccxt.OnMaintenance | ccxt.InvalidNonce) or not write or _not_sent(exc):
        return CcxtUnavailableError(f"{what}: exchange unavailable ({type(exc).__name__}: {_clean(exc)})")
    return CcxtAmbiguousOutcomeError(f"{what}: sent, outcome unknown ({type(exc).__name__})")


def error_for(exc: ccxt.BaseError, what: str, *, write: bool = False) -> CcxtError:
    """The adapter's error for a ccxt exception raised by `what`; `write` marks calls that change state."""
    message = f"{what}: {_clean(exc)}"
    found = _CODE.search(str(exc))
    code = found.group(1) if found else None
    if isinstance(exc, ccxt.DuplicateOrderId) or "Duplicate order sent" in str(exc):
        return CcxtDuplicateOrderError(message, code=code)
    if isinstance(exc, ccxt.OrderNotFound):
        return CcxtOrderNotFoundError(message, code=code)
    if isinstance(exc, ccxt.InsufficientFunds):
        return CcxtInsufficientFundsError(message, code=code)
    if isinstance(exc, ccxt.AuthenticationError):
        return CcxtAuthenticationError(message, status_code=401, code=code)
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return CcxtRateLimitedError(message, code=code)
    if isinstance(exc, ccxt.BadResponse):
        return CcxtProtocolError(message, code=code)
    if isinstance(exc, ccxt.OperationFailed):  # network errors, and Binance's -1001 "internal error"
        return _network(exc, what, write)
    if isinstance(exc, ccxt.ExchangeError) and not isinstance(exc, ccxt.OperationRejected | ccxt.InvalidOrder
                                                                | ccxt.BadRequest | ccxt.NotSupported) \
            and exc.__cause__ is not None and write:
        return CcxtAmbiguousOutcomeError(f"{what}: transport error after sending ({type(exc).__name__})")
    return CcxtRejectedError(message, code=code)
