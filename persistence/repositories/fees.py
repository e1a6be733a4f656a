"""FeeReportRepository on PostgreSQL: each fee stored once, append-only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from domain.broker_integration import FeeReport
from persistence.tables import FeeReportRow

from ._base import SqlRepository, plain, row_values, table_of

__all__ = ["SqlFeeReportRepository"]

_FEES = table_of(FeeReportRow)
FEE_KEY = "uq_order_fees_connection_fee"


class SqlFeeReportRepository(SqlRepository):
    """Fees in `order_fees`, unique by (connection id, fee id)."""

    async def add(self, fee: FeeReport) -> bool:
        """Store the fee; False if it was already stored (nothing changes then)."""
        values = {key: plain(value) for key, value in fee.model_dump().items()}
        return await self._insert_once(_FEES, values, FEE_KEY)

    async def list_for_order(self, client_order_id: str) -> Sequence[FeeReport]:
        """The order's fees, oldest first."""
        query = select(_FEES).where(_FEES.c.client_order_id == client_order_id).order_by(_FEES.c.charged_at,
                                                                                        _FEES.c.id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [FeeReport(**row_values(row, drop=("id", "recorded_at"))) for row in rows]
