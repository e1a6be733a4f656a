"""BrokerAccountRepository on PostgreSQL: the latest snapshot of each account."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from domain.broker_integration import BrokerAccount
from persistence.tables import BrokerAccountRow

from ._base import SqlRepository, plain, row_values, table_of, upsert

__all__ = ["SqlBrokerAccountRepository"]

_ACCOUNTS = table_of(BrokerAccountRow)

# Our own bookkeeping, which brokers do not report, and the broker's margin terms (forex, crypto):
# one JSONB column, decimals as strings.
LEDGER_FIELDS = frozenset({
    "last_equity", "last_maintenance_margin", "allow_unsettled_funds", "realized_pnl", "pending_settlements",
    "unsettled_purchases", "good_faith_violations", "day_trades", "opened_today", "trade_date", "booked_at",
    "day_trade_orders", "margin_rates", "margin_available",
})


def account_values(account: BrokerAccount) -> dict[str, Any]:
    """The row values of an account snapshot."""
    skip = {"positions", "updated_at", *LEDGER_FIELDS}
    values = {key: plain(value) for key, value in account.model_dump(exclude=skip).items()}
    values["positions"] = {symbol: p.model_dump(mode="json") for symbol, p in account.positions.items()}
    values["ledger"] = account.model_dump(mode="json", include=set(LEDGER_FIELDS))
    values["as_of"] = account.updated_at
    return values


def account_from_row(row: Any) -> BrokerAccount:
    """The account snapshot of a row."""
    values = row_values(row, drop=("updated_at", "as_of", "ledger"))
    values.update(row["ledger"] or {})
    values["updated_at"] = row_values(row)["as_of"]
    return BrokerAccount.model_validate(values)


class SqlBrokerAccountRepository(SqlRepository):
    """Accounts in `broker_accounts`, positions as JSONB with decimal strings."""

    async def get(self, account_id: str) -> BrokerAccount | None:
        """Return the account snapshot, or None."""
        async with self._sessions() as session:
            query = select(_ACCOUNTS).where(_ACCOUNTS.c.account_id == account_id)
            row = (await session.execute(query)).mappings().first()
        return None if row is None else account_from_row(row)

    async def save(self, account: BrokerAccount) -> None:
        """Insert or replace the account snapshot."""
        async with self._sessions.begin() as session:
            await session.execute(upsert(_ACCOUNTS, account_values(account), "account_id"))

    async def list_for_connection(self, connection_id: str) -> Sequence[BrokerAccount]:
        """Return the accounts behind a connection, by id."""
        async with self._sessions() as session:
            query = select(_ACCOUNTS).where(_ACCOUNTS.c.connection_id == connection_id).order_by(_ACCOUNTS.c.account_id)
            rows = (await session.execute(query)).mappings().all()
        return [account_from_row(row) for row in rows]
