"""What the activities need of persistence: the five repositories (persistence.Repositories fits)."""

from __future__ import annotations

from typing import Protocol

from domain.broker_integration import (
    AccountLedgerRepository,
    BrokerAccountRepository,
    BrokerConnectionRepository,
    ExecutionReportRepository,
    FeeReportRepository,
    OrderExecutionRepository,
    OrderStatusRepository,
)

__all__ = ["ActivityRepositories"]


class ActivityRepositories(Protocol):
    @property
    def connections(self) -> BrokerConnectionRepository: ...

    @property
    def accounts(self) -> BrokerAccountRepository: ...

    @property
    def orders(self) -> OrderExecutionRepository: ...

    @property
    def executions(self) -> ExecutionReportRepository: ...

    @property
    def statuses(self) -> OrderStatusRepository: ...

    @property
    def fees(self) -> FeeReportRepository | None: ...

    @property
    def ledger(self) -> AccountLedgerRepository | None: ...
