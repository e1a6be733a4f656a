"""The five repository ports. Implementations: persistence/ (PostgreSQL) and in-memory fakes for tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .entities import BrokerAccount, BrokerConnection
from .order import Order
from .order_state import OrderStatus
from .value_objects import ConnectionCredentials, ExecutionReport, FeeReport, OrderStatusUpdate

__all__ = [
    "BrokerAccountRepository",
    "BrokerConnectionRepository",
    "ExecutionReportRepository",
    "FeeReportRepository",
    "OrderExecutionRepository",
    "OrderStatusRepository",
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
