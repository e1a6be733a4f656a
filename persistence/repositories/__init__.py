"""The five domain repository ports implemented on PostgreSQL (async SQLAlchemy + psycopg 3)."""

from .accounts import SqlBrokerAccountRepository
from .connections import SqlBrokerConnectionRepository
from .history import SqlExecutionReportRepository, SqlOrderStatusRepository
from .orders import SqlOrderExecutionRepository

__all__ = [
    "SqlBrokerAccountRepository",
    "SqlBrokerConnectionRepository",
    "SqlExecutionReportRepository",
    "SqlOrderExecutionRepository",
    "SqlOrderStatusRepository",
]
