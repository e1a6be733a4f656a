"""The five repositories behind one engine: open them with `open_repositories`, close them once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.broker_integration import (
    AccountLedgerRepository,
    BrokerAccountRepository,
    BrokerConnectionRepository,
    ExecutionReportRepository,
    FeeReportRepository,
    OrderExecutionRepository,
    OrderStatusRepository,
)

from .crypto import CredentialCipher
from .database import create_engine, session_factory
from .repositories import (
    SqlBrokerAccountRepository,
    SqlBrokerConnectionRepository,
    SqlExecutionReportRepository,
    SqlOrderExecutionRepository,
    SqlOrderStatusRepository,
)
from .repositories.fees import SqlFeeReportRepository
from .repositories.ledger import SqlAccountLedger

__all__ = ["Repositories", "open_repositories"]


@dataclass(frozen=True)
class Repositories:
    """The five repository ports; `engine` is None for in-memory fakes."""

    connections: BrokerConnectionRepository
    accounts: BrokerAccountRepository
    orders: OrderExecutionRepository
    executions: ExecutionReportRepository
    statuses: OrderStatusRepository
    engine: AsyncEngine | None = None
    fees: FeeReportRepository | None = None
    ledger: AccountLedgerRepository | None = None

    @classmethod
    def from_engine(cls, engine: AsyncEngine, cipher: CredentialCipher) -> Repositories:
        """Build the PostgreSQL repositories on an existing engine (the caller keeps ownership)."""
        sessions = session_factory(engine)
        return cls(
            connections=SqlBrokerConnectionRepository(sessions, cipher),
            accounts=SqlBrokerAccountRepository(sessions),
            orders=SqlOrderExecutionRepository(sessions),
            executions=SqlExecutionReportRepository(sessions),
            statuses=SqlOrderStatusRepository(sessions),
            engine=engine,
            fees=SqlFeeReportRepository(sessions),
            ledger=SqlAccountLedger(sessions),
        )

    async def close(self) -> None:
        """Dispose of the engine's connection pool."""
        if self.engine is not None:
            await self.engine.dispose()

    async def __aenter__(self) -> Repositories:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def open_repositories(
    database_url: str,
    *,
    data_dir: Path | str | None = None,
    secret_key: str | bytes | None = None,
) -> Repositories:
    """Connect to `database_url` and return the repositories; credentials use the configured key.

    The key is `secret_key`, else env BROKERFLOW_SECRET_KEY, else `<data_dir>/secret.key`
    (data_dir: argument, env BROKERFLOW_DATA_DIR, or ./.brokerflow), created on first use.
    """
    cipher = CredentialCipher.from_settings(data_dir, secret_key)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")
    except BaseException:
        await engine.dispose()
        raise
    return Repositories.from_engine(engine, cipher)
