"""Alpaca's errors, each a subclass of the matching broker-neutral error of the domain port.

Exception tree (domain parent in brackets)::

    AlpacaError                              [BrokerError]
    ├── AlpacaAuthenticationError            [BrokerAuthenticationError]   401; 403 "forbidden"
    ├── AlpacaRejectedError                  [BrokerRejectedError]         400, 403, 422: never retried
    │   ├── AlpacaInsufficientFundsError     403 insufficient buying power / qty
    │   ├── AlpacaDuplicateClientOrderIdError  [BrokerDuplicateOrderError] 422 duplicate client_order_id: look up
    │   ├── AlpacaOrderNotCancelableError    422 on DELETE: the order is already final
    │   └── AlpacaUnsupportedOrderError      refused before sending (e.g. GTD)
    ├── AlpacaOrderNotFoundError             [BrokerOrderNotFoundError]    404
    ├── AlpacaRateLimitedError               [BrokerRateLimitedError]      429, with retry_after
    ├── AlpacaUnavailableError               [BrokerUnavailableError]      5xx, connect failures: nothing done
    ├── AlpacaAmbiguousOutcomeError          [AmbiguousOutcomeError]       sent, no answer: look up first
    └── AlpacaProtocolError                  [BrokerUnavailableError]      a payload we cannot read

Messages carry the method, path, HTTP status and Alpaca's message: never headers, keys or tokens.
"""

from __future__ import annotations

from typing import Any

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
    "DUPLICATE_CLIENT_ORDER_ID",
    "AlpacaAmbiguousOutcomeError",
    "AlpacaAuthenticationError",
    "AlpacaDuplicateClientOrderIdError",
    "AlpacaError",
    "AlpacaInsufficientFundsError",
    "AlpacaOrderNotCancelableError",
    "AlpacaOrderNotFoundError",
    "AlpacaProtocolError",
    "AlpacaRateLimitedError",
    "AlpacaRejectedError",
    "AlpacaUnavailableError",
    "AlpacaUnsupportedOrderError",
    "error_for_status",
]

DUPLICATE_CLIENT_ORDER_ID = "duplicate_client_order_id"


class AlpacaError(BrokerError):
    """Base of Alpaca errors; `details` holds the extra keys of Alpaca's error body."""

    reason: str | None = None

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(message, status_code=status_code, code=code, **kwargs)
        self.details: dict[str, Any] = dict(details or {})


class AlpacaAuthenticationError(AlpacaError, BrokerAuthenticationError):
    """The keys or token were refused."""


class AlpacaRejectedError(AlpacaError, BrokerRejectedError):
    """Alpaca refused the request; repeating it will not help."""


class AlpacaInsufficientFundsError(AlpacaRejectedError):
    """Not enough buying power, or not enough quantity to sell."""


class AlpacaDuplicateClientOrderIdError(AlpacaRejectedError, BrokerDuplicateOrderError):
    """An order with this client_order_id exists already: look it up instead of resubmitting."""

    reason = DUPLICATE_CLIENT_ORDER_ID


class AlpacaOrderNotCancelableError(AlpacaRejectedError):
    """The order is final (filled, canceled, expired) and cannot be canceled."""


class AlpacaUnsupportedOrderError(AlpacaRejectedError):
    """The order uses a feature Alpaca does not offer; refused before sending."""


class AlpacaOrderNotFoundError(AlpacaError, BrokerOrderNotFoundError):
    """No such order (or position, or asset)."""


class AlpacaRateLimitedError(AlpacaError, BrokerRateLimitedError):
    """Too many requests; wait `retry_after` seconds."""


class AlpacaUnavailableError(AlpacaError, BrokerUnavailableError):
    """Alpaca could not be reached or failed before acting: safe to retry."""


class AlpacaAmbiguousOutcomeError(AlpacaError, AmbiguousOutcomeError):
    """The request was sent but no answer came: it may or may not have taken effect."""


class AlpacaProtocolError(AlpacaError, BrokerUnavailableError):
    """Alpaca answered with a payload that does not match its published shape."""


def _is_duplicate(message: str) -> bool:
    text = message.lower()
    return "client_order_id" in text and "unique" in text


def _rejected(status: int, message: str, method: str) -> type[AlpacaError]:
    text = message.lower()
    if status == 422 and _is_duplicate(message):
        return AlpacaDuplicateClientOrderIdError
    if status == 422 and method == "DELETE":
        return AlpacaOrderNotCancelableError
    if status == 403 and ("insufficient buying power" in text or "insufficient qty" in text):
        return AlpacaInsufficientFundsError
    if status == 403 and text.strip(" .") == "forbidden":
        return AlpacaAuthenticationError
    return AlpacaRejectedError


def error_for_status(status: int, message: str, method: str = "GET") -> type[AlpacaError]:
    """The error class for an HTTP error status (4xx/5xx) and Alpaca's message."""
    if status == 401:
        return AlpacaAuthenticationError
    if status == 404:
        return AlpacaOrderNotFoundError
    if status == 429:
        return AlpacaRateLimitedError
    if status >= 500:
        return AlpacaUnavailableError
    return _rejected(status, message, method)
