"""The five repository ports. Implementations: persistence/ (PostgreSQL) and in-memory fakes for tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from .entities import BrokerAccount, BrokerConnection
from .enums import AccountType
from .order import Order
from .order_state import OrderStatus
from .rules.accounting import AccountDrift
from .rules.buying_power import Reservation
from .rules.margin import AccountFigures
from .value_objects import BrokerOrder, ConnectionCredentials, ExecutionReport, FeeReport, OrderStatusUpdate

__all__ = [
    "AccountLedgerRepository",
    "BrokerAccountRepository",
    "BrokerConnectionRepository",
    "ExecutionReportRepository",
    "FeeReportRepository",
    "LedgerSync",
    "OrderExecutionRepository",
    "OrderStatusRepository",
    "RecordedChanges",
    "ReservationRequest",
]


@runtime_checkable
class BrokerConnectionRepository(Protocol):
    """Connections and their (encrypted at rest) credentials."""

    async def get(self, connection_id: str) -> BrokerConnection | None: ...

    async def save(self, connection: BrokerConnection) -> None: ...

    async def list(self) -> Sequence[BrokerConnection]: ...

    async def save_credentials(self, connection_id: str, credentials: ConnectionCredentials) -> None: ...

    async def get_credentials(self, connection_id: str) -> ConnectionCredentials | None: ...


@runtime_checkable
class BrokerAccountRepository(Protocol):
    """Account snapshots, many per connection."""

    async def get(self, account_id: str) -> BrokerAccount | None: ...

    async def save(self, account: BrokerAccount) -> None: ...

    async def list_for_connection(self, connection_id: str) -> Sequence[BrokerAccount]: ...


@runtime_checkable
class OrderExecutionRepository(Protocol):
    """Orders (the aggregate's current state), found by client or broker order id."""

    async def get(self, client_order_id: str) -> Order | None: ...

    async def get_by_broker_order_id(self, broker_order_id: str) -> Order | None: ...

    async def save(self, order: Order) -> None: ...

    async def list_by_status(self, statuses: Sequence[OrderStatus], limit: int = 100) -> Sequence[Order]: ...

    async def open_at_connection(self, connection_id: str) -> dict[str, Decimal]:
        """The orders sent to a connection and not ended: broker order id -> the quantity we hold filled."""
        ...


@runtime_checkable
class ExecutionReportRepository(Protocol):
    """Executions, unique by (connection, execution id)."""

    async def add(self, report: ExecutionReport) -> bool:
        """Store the report; False if it was already stored (nothing changes then)."""
        ...

    async def list_for_order(self, client_order_id: str) -> Sequence[ExecutionReport]: ...


@runtime_checkable
class FeeReportRepository(Protocol):
    """Commissions and fees, unique by (connection, fee id)."""

    async def add(self, fee: FeeReport) -> bool:
        """Store the fee; False if it was already stored."""
        ...

    async def list_for_order(self, client_order_id: str) -> Sequence[FeeReport]: ...


@runtime_checkable
class OrderStatusRepository(Protocol):
    """Append-only status history."""

    async def append(self, update: OrderStatusUpdate) -> bool:
        """Store the update; False if this (order, sequence) is already stored."""
        ...

    async def history(self, client_order_id: str) -> Sequence[OrderStatusUpdate]: ...


@dataclass(frozen=True)
class LedgerSync:
    """An account after merging the broker's snapshot: drifts found, orders still holding reservations."""

    account: BrokerAccount
    drifts: list[AccountDrift] = field(default_factory=list)
    orders_in_flight: int = 0
    created: bool = False


@dataclass(frozen=True)
class RecordedChanges:
    """What storing an order's changes stored for the first time (the rest was stored before)."""

    executions: list[ExecutionReport] = field(default_factory=list)
    fees: list[FeeReport] = field(default_factory=list)
    updates: list[OrderStatusUpdate] = field(default_factory=list)


@dataclass(frozen=True)
class ReservationRequest:
    """A pre-trade check to run and reserve atomically against the account's other reservations."""

    order: BrokerOrder
    snapshot: BrokerAccount
    reference_price: Decimal
    estimated_fees: Decimal
    today: date


@runtime_checkable
class AccountLedgerRepository(Protocol):
    """Accounts as a ledger: broker snapshots merged, fills and fees booked once, reservations held atomically."""

    async def sync(self, snapshot: BrokerAccount, today: date) -> LedgerSync:
        """Merge the broker's snapshot into the stored account (under the account's lock)."""
        ...

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, AccountFigures]:
        """Sync, check the order against the account less the other orders' reservations, and reserve.

        Concurrent calls for one account are serialised, so two orders cannot spend the same dollars.
        Raises PreTradeRejectedError (nothing reserved). A second call for the same order returns the first
        reservation.
        """
        ...

    async def amend(self, order: BrokerOrder, reference_price: Decimal, estimated_fees: Decimal,
                    today: date, *, commit: bool) -> Reservation | None:
        """An amended order: with `commit` False, check its unfilled part against the account less the other
        reservations (PreTradeRejectedError, changing nothing); with `commit` True (the broker took the new
        terms), move its reservation to them. None when the order holds no reservation."""
        ...

    async def update_settings(self, account_id: str, account_type: AccountType | None = None,
                              allow_unsettled_funds: bool | None = None) -> BrokerAccount | None:
        """Change what brokers do not report (under the account's lock, nothing else touched)."""
        ...

    async def release(self, client_order_id: str, reason: str) -> bool:
        """Release an order's reservation (filled, cancelled, rejected, expired); False if none was held."""
        ...

    async def book_execution(self, report: ExecutionReport, trade_date: date) -> bool:
        """Store the execution and apply it to its account, both once; False if it was already stored."""
        ...

    async def book_fee(self, fee: FeeReport) -> bool:
        """Store the fee and charge it to the account's cash, both once; False if it was already stored."""
        ...

    async def record(self, order: Order, updates: Sequence[OrderStatusUpdate], executions: Sequence[ExecutionReport],
                     fees: Sequence[FeeReport], trade_date: Callable[[datetime], date]) -> RecordedChanges:
        """Store an order's status changes, executions and fees (each once; fills and fees booked to its account
        as `book_execution` and `book_fee` do), then its current state (as `OrderExecutionRepository.save`) and,
        when the order is terminal, release its reservation (as `release`): one transaction, all of it or none."""
        ...

    async def reservations(self, account_id: str, held_only: bool = True) -> Sequence[Reservation]: ...

    async def reservation(self, client_order_id: str) -> Reservation | None: ...

    async def estimated_fees(self, client_order_ids: Sequence[str]) -> dict[str, Decimal]:
        """Our pre-trade fee estimate of each order that has a reservation."""
        ...
