"""Tradier's errors, each a subclass of the matching broker-neutral error of the domain port.

Exception tree (domain parent in brackets)::

    TradierError                              [BrokerError]
    ├── TradierAuthenticationError            [BrokerAuthenticationError]   401 (plain "Invalid Access Token")
    │   └── TradierTokenRefreshError          OAuth client or refresh token refused: never retried
    ├── TradierRejectedError                  [BrokerRejectedError]         400, 403, 422: never retried
    │   ├── TradierInsufficientFundsError     400 "buying power"
    │   ├── TradierOrderNotCancelableError    400 "order already in finalized state"
    │   ├── TradierDuplicateTagError          [BrokerDuplicateOrderError]  found by lookup before placing
    │   ├── TradierUnsupportedOrderError      refused before sending (what Tradier cannot do)
    │   └── TradierPositionEffectError        refused before sending: an option side the position does not fit
    ├── TradierOrderNotFoundError             [BrokerOrderNotFoundError]    404, 400 "not found"
    ├── TradierRateLimitedError               [BrokerRateLimitedError]      429, with retry_after
    ├── TradierUnavailableError               [BrokerUnavailableError]      5xx, connect failures: nothing done
    ├── TradierAmbiguousOutcomeError          [AmbiguousOutcomeError]       sent, no answer: look up first
    └── TradierProtocolError                  [BrokerUnavailableError]      a payload we cannot read

Tradier does not refuse a second order with the same `tag`: exactly-once rests on looking the tag up
before resending. Messages carry the method, path, HTTP status and Tradier's messages, never tokens.
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
    "TradierAmbiguousOutcomeError",
    "TradierAuthenticationError",
    "TradierDuplicateTagError",
    "TradierError",
    "TradierInsufficientFundsError",
    "TradierOrderNotCancelableError",
    "TradierOrderNotFoundError",
    "TradierPositionEffectError",
    "TradierProtocolError",
    "TradierRateLimitedError",
    "TradierRejectedError",
    "TradierTokenRefreshError",
    "TradierUnavailableError",
    "TradierUnsupportedOrderError",
    "error_for_status",
]


class TradierError(BrokerError):
    """Base of Tradier errors; `messages` holds Tradier's error strings."""

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None,
                 messages: list[str] | None = None) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.messages: list[str] = list(messages or [])


class TradierAuthenticationError(TradierError, BrokerAuthenticationError):
    """The access token was refused (unknown, expired or revoked)."""


class TradierTokenRefreshError(TradierAuthenticationError):
    """The refresh was refused (client id/secret wrong, refresh token unknown or used): a new authorization is
    needed, so repeating the call will not help."""

    retryable = False


class TradierRejectedError(TradierError, BrokerRejectedError):
    """Tradier refused the request; repeating it will not help."""


class TradierInsufficientFundsError(TradierRejectedError):
    """Not enough buying power for the order."""


class TradierOrderNotCancelableError(TradierRejectedError):
    """The order is final (filled, canceled, expired, rejected)."""


class TradierDuplicateTagError(TradierRejectedError, BrokerDuplicateOrderError):
    """Another order already carries this tag (client order id): look it up, never resend."""


class TradierUnsupportedOrderError(TradierRejectedError):
    """The order or change uses something Tradier does not offer; refused before sending."""


class TradierPositionEffectError(TradierRejectedError):
    """An option order whose side does not fit the account's position in the contract (it would cross through
    zero, or sell what is not held); refused before sending."""


class TradierOrderNotFoundError(TradierError, BrokerOrderNotFoundError):
    """No such order in the account."""


class TradierRateLimitedError(TradierError, BrokerRateLimitedError):
    """Too many requests in the current one-minute window; wait `retry_after` seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, status_code: int | None = 429,
                 code: str | None = None, messages: list[str] | None = None) -> None:
        TradierError.__init__(self, message, status_code=status_code, code=code, messages=messages)
        self.retry_after = retry_after


class TradierUnavailableError(TradierError, BrokerUnavailableError):
    """Tradier could not be reached or failed before acting: safe to retry."""


class TradierAmbiguousOutcomeError(TradierError, AmbiguousOutcomeError):
    """The request was sent but no answer came: it may or may not have taken effect."""


class TradierProtocolError(TradierError, BrokerUnavailableError):
    """Tradier answered with a payload that does not match its published shape."""


def error_for_status(status: int, text: str, method: str = "GET") -> type[TradierError]:
    """The error class for an HTTP error status and Tradier's message(s) joined in `text`."""
    lowered = text.lower()
    if status == 401:
        return TradierAuthenticationError
    if status == 404 or (status == 400 and "not found" in lowered):
        return TradierOrderNotFoundError
    if status == 429:
        return TradierRateLimitedError
    if status >= 500:
        return TradierUnavailableError
    if "finalized state" in lowered or (method == "DELETE" and "final" in lowered):
        return TradierOrderNotCancelableError
    if "buying power" in lowered:
        return TradierInsufficientFundsError
    return TradierRejectedError
