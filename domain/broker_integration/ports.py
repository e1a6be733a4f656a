"""Ports: what the domain needs from the outside (brokers, clocks), and the neutral types they speak.

Broker errors every adapter maps its own errors onto::

    BrokerError
    ├── BrokerAuthenticationError    credentials refused or session expired (retryable after re-auth)
    ├── BrokerRejectedError          the broker refused the request; never retried
    │   └── BrokerDuplicateOrderError   the client order id is taken: look the order up, never resend
    ├── BrokerOrderNotFoundError     no such order at the broker
    ├── BrokerRateLimitedError       429; `retry_after` seconds before the next call
    ├── BrokerUnavailableError       5xx, connection refused: nothing was done, safe to retry
    └── AmbiguousOutcomeError        timeout or reset after sending: look the order up before retrying
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field, field_validator

from .base import to_decimal
from .entities import BrokerAccount, BrokerConnection, Position
from .order_state import OrderStatus
from .value_objects import (
    BrokerCapabilities,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
    utc,
)

__all__ = [
    "AmbiguousOutcomeError",
    "BrokerAuthenticationError",
    "BrokerDuplicateOrderError",
    "BrokerError",
    "BrokerGateway",
    "BrokerOrderNotFoundError",
    "BrokerRateLimitedError",
    "BrokerRejectedError",
    "BrokerUnavailableError",
    "Clock",
    "ConnectionSupervisor",
    "GatewayProvider",
    "OrderAmendment",
    "OrderSnapshot",
    "SessionInfo",
    "TradeEvent",
    "TradeEventKind",
    "account_snapshots",
]


class BrokerError(Exception):
    """Base of broker errors; `retryable` says whether the same call may simply be repeated."""

    retryable: bool = False

    def __init__(self, message: str, *, status_code: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code

    def is_retryable(self) -> bool:
        """Whether repeating the same call is safe and may succeed."""
        return self.retryable


def is_transient(error: BrokerError) -> bool:
    """The broker could not answer now (down, overloaded, no answer in time): asking again later may work."""
    return isinstance(error, (BrokerUnavailableError, BrokerRateLimitedError, AmbiguousOutcomeError))


class BrokerAuthenticationError(BrokerError):
    retryable = True


class BrokerRejectedError(BrokerError):
    retryable = False


class BrokerDuplicateOrderError(BrokerRejectedError):
    """The broker already has an order with this client order id (an earlier attempt may have landed)."""


class BrokerOrderNotFoundError(BrokerError):
    retryable = False


class BrokerRateLimitedError(BrokerError):
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 1.0,
        status_code: int | None = 429,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, code=code)
        self.retry_after = retry_after


class BrokerUnavailableError(BrokerError):
    retryable = True


class AmbiguousOutcomeError(BrokerError):
    """The request may or may not have taken effect; resolve by lookup, never by blind resubmission."""

    retryable = False


class SessionInfo(BaseModel):
    """An authenticated session: when it expires (None: it does not) and which accounts it reaches."""

    expires_at: datetime | None = None
    account_numbers: list[str] = Field(default_factory=list)

    _aware = field_validator("expires_at")(lambda v: None if v is None else utc(v))


class OrderSnapshot(BaseModel):
    """The broker's view of one order, in neutral terms."""

    broker_order_id: str
    client_order_id: str
    status: OrderStatus
    symbol: str
    quantity: Decimal
    filled_quantity: Decimal = Decimal("0")
    filled_avg_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    replaced_by: str | None = None
    replaces: str | None = None
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    reason: str | None = None

    _decimals = field_validator(
        "quantity", "filled_quantity", "filled_avg_price", "limit_price", "stop_price", mode="before"
    )(to_decimal)


class OrderAmendment(BaseModel):
    """New terms for a working order; None leaves a term unchanged."""

    quantity: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    limit_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    stop_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    trail: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)

    _decimals = field_validator("quantity", "limit_price", "stop_price", "trail", mode="before")(to_decimal)

    def is_empty(self) -> bool:
        """Whether no term changes."""
        return all(v is None for v in (self.quantity, self.limit_price, self.stop_price, self.trail))


class TradeEventKind(StrEnum):
    NEW = "NEW"
    ACCEPTED = "ACCEPTED"
    PENDING_NEW = "PENDING_NEW"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    DONE_FOR_DAY = "DONE_FOR_DAY"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    PENDING_CANCEL = "PENDING_CANCEL"
    PENDING_REPLACE = "PENDING_REPLACE"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    REPLACE_REJECTED = "REPLACE_REJECTED"
    TRIGGERED = "TRIGGERED"
    OTHER = "OTHER"


class TradeEvent(BaseModel):
    """One event of the broker's trade-updates stream, in neutral terms."""

    kind: TradeEventKind
    order: OrderSnapshot
    occurred_at: datetime
    execution: ExecutionReport | None = None
    position_quantity: Decimal | None = None
    sequence: str | None = None


class Clock(Protocol):
    """Where the current time comes from (the domain has no clock of its own)."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


@runtime_checkable
class BrokerGateway(Protocol):
    """One broker connection's API, as every adapter implements it. All calls may raise BrokerError."""

    @property
    def broker(self) -> str: ...

    def capabilities(self) -> BrokerCapabilities: ...

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo: ...

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot: ...

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None: ...

    async def get_order(self, broker_order_id: str) -> OrderSnapshot: ...

    async def cancel_order(self, broker_order_id: str) -> None: ...

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot: ...

    async def list_open_orders(self) -> list[OrderSnapshot]: ...

    async def get_account(self, account_number: str | None = None) -> BrokerAccount: ...

    async def get_positions(self, account_number: str | None = None) -> list[Position]: ...

    async def executions_since(self, since: datetime) -> list[ExecutionReport]: ...

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        """Commissions and fees charged from `since` on (the broker's clock), each with its order."""
        ...

    async def latest_price(self, symbol: str) -> Decimal | None:
        """The last trade (or mid quote) price, None when the broker offers no market data."""
        ...

    def trade_updates(self) -> AsyncIterator[TradeEvent]: ...

    async def close(self) -> None: ...


class ConnectionSupervisor(Protocol):
    """Keeps a connection supervised (health, token refresh, stream, recovery) once it is established."""

    async def ensure_supervised(self, connection_id: str) -> None: ...


class GatewayProvider(Protocol):
    """Finds the gateway for a connection (the outer layers hold the registry)."""

    def gateway_for(self, connection: BrokerConnection) -> BrokerGateway: ...


async def account_snapshots(gateway: BrokerGateway) -> list[BrokerAccount]:
    """Every account a gateway reaches: its `list_accounts()` where it has one (several accounts per
    connection), else the connection's one account."""
    lister = getattr(gateway, "list_accounts", None)
    if lister is None:
        return [await gateway.get_account()]
    accounts: list[BrokerAccount] = await lister()
    return accounts
