"""OANDA's errors, each a subclass of the matching broker-neutral error of the domain port.

Exception tree (domain parent in brackets)::

    OandaError                                [BrokerError]
    ├── OandaAuthenticationError              [BrokerAuthenticationError]   401, 403 (token or account refused)
    ├── OandaRejectedError                    [BrokerRejectedError]         400, 405: never retried
    │   ├── OandaInsufficientMarginError      rejectReason/cancel reason INSUFFICIENT_MARGIN
    │   ├── OandaOrderNotCancelableError      cancel of an order that is no longer pending
    │   ├── OandaDuplicateClientIdError       [BrokerDuplicateOrderError]   CLIENT_ORDER_ID_ALREADY_EXISTS
    │   └── OandaUnsupportedOrderError        refused before sending (what OANDA cannot do)
    ├── OandaOrderNotFoundError               [BrokerOrderNotFoundError]    404, ORDER_DOESNT_EXIST
    ├── OandaRateLimitedError                 [BrokerRateLimitedError]      429, with retry_after
    ├── OandaUnavailableError                 [BrokerUnavailableError]      5xx, connect failures: nothing done
    ├── OandaAmbiguousOutcomeError            [AmbiguousOutcomeError]       sent, no answer: look up first
    └── OandaProtocolError                    [BrokerUnavailableError]      a payload we cannot read

Messages carry the method, path, HTTP status, OANDA's errorCode and errorMessage, never the token.
"""

from __future__ import annotations

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
    "OandaAmbiguousOutcomeError",
    "OandaAuthenticationError",
    "OandaDuplicateClientIdError",
    "OandaError",
    "OandaInsufficientMarginError",
    "OandaOrderNotCancelableError",
    "OandaOrderNotFoundError",
    "OandaProtocolError",
    "OandaRateLimitedError",
    "OandaRejectedError",
    "OandaUnavailableError",
    "OandaUnsupportedOrderError",
    "error_for",
]


class OandaError(BrokerError):
    """Base of OANDA's errors; `code` is OANDA's errorCode (or reject reason) when it gave one."""


class OandaAuthenticationError(OandaError, BrokerAuthenticationError):
    """The token was refused, or it does not reach the account."""


class OandaRejectedError(OandaError, BrokerRejectedError):
    """OANDA refused the request; repeating it will not help."""


class OandaInsufficientMarginError(OandaRejectedError):
    """Not enough margin available for the order."""


class OandaOrderNotCancelableError(OandaRejectedError):
    """The order is no longer pending (filled or cancelled)."""


class OandaDuplicateClientIdError(OandaRejectedError, BrokerDuplicateOrderError):
    """Another order already carries this client order id: look it up, never resend."""


class OandaUnsupportedOrderError(OandaRejectedError):
    """The order or change uses something OANDA (or this adapter) does not offer; refused before sending."""


class OandaOrderNotFoundError(OandaError, BrokerOrderNotFoundError):
    """No such order in the account."""


class OandaRateLimitedError(OandaError, BrokerRateLimitedError):
    """More than 120 requests per second; wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, status_code: int | None = 429,
                 code: str | None = None) -> None:
        OandaError.__init__(self, message, status_code=status_code, code=code)
        self.retry_after = retry_after


class OandaUnavailableError(OandaError, BrokerUnavailableError):
    """OANDA could not be reached or failed before acting: safe to retry."""


class OandaAmbiguousOutcomeError(OandaError, AmbiguousOutcomeError):
    """The request was sent but no answer came: it may or may not have taken effect."""


class OandaProtocolError(OandaError, BrokerUnavailableError):
    """OANDA answered with a payload that does not match its published shape."""


def error_for(status: int, code: str | None) -> type[OandaError]:
    """The error class for an HTTP error status and OANDA's errorCode."""
    if status in (401, 403):
        return OandaAuthenticationError
    if status == 429:
        return OandaRateLimitedError
    if status >= 500:
        return OandaUnavailableError
    if code == "CLIENT_ORDER_ID_ALREADY_EXISTS":
        return OandaDuplicateClientIdError
    if code == "INSUFFICIENT_MARGIN":
        return OandaInsufficientMarginError
    if status == 404 or code == "ORDER_DOESNT_EXIST":
        return OandaOrderNotFoundError
    return OandaRejectedError
