"""Executions from ORDER_FILL transactions, each once, with the cumulative quantity of its order.

A fill arrives from the transaction stream, from a poll of the transactions, or from reading an order's
transactions back; all three give the same execution id (`<account>:<transaction id>`), and the
cumulative quantity counts the order's fills in transaction order, so the domain records each once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from domain.broker_integration.enums import OrderSide, OrderType
from domain.broker_integration.value_objects import ExecutionReport

from . import parsing
from .errors import OandaProtocolError
from .schemas import OandaTransaction

__all__ = ["FillLedger", "OrderInfo"]

MAX_ORDERS = 8192
_TRANSACTION_ID = re.compile(r"^[0-9]{1,19}$")


@dataclass(frozen=True)
class OrderInfo:
    """What a transaction lacks: the order's client id (root), domain symbol, side, units and account."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    quantity: Decimal
    account: str
    order_type: OrderType | None = None
    price: Decimal | None = None
    replaces: str | None = None


class FillLedger:
    """The fills known so far per order, the cancel reason of each cancelled order, and which orders
    have been read back in full."""

    def __init__(self, connection_id: str | None = None) -> None:
        self.connection_id = connection_id
        self._fills: dict[str, dict[int, ExecutionReport]] = {}
        self.cancel_reasons: dict[str, str] = {}
        self.complete: set[str] = set()

    def reports(self, broker_order_id: str) -> list[ExecutionReport]:
        """Every fill known for an order, in transaction order."""
        known = self._fills.get(broker_order_id, {})
        return [known[k] for k in sorted(known)]

    def filled(self, broker_order_id: str) -> Decimal:
        return sum((r.quantity for r in self.reports(broker_order_id)), Decimal("0"))

    def add(self, fill: OandaTransaction, info: OrderInfo) -> ExecutionReport:
        """The fill as an execution (the same report however often it is seen); a fill without a numeric
        transaction id, or one that would fill the order beyond its units, is refused before it is recorded."""
        if fill.id is None or not _TRANSACTION_ID.match(fill.id):
            raise OandaProtocolError(f"ORDER_FILL with transaction id {str(fill.id)[:40]!r}, not a number")
        known = self._fills.setdefault(info.broker_order_id, {})
        key = int(fill.id)
        if key in known:
            return known[key]
        report = parsing.execution_report(fill, info.client_order_id, self.connection_id, None, info.side)
        total = sum((r.quantity for r in known.values()), report.quantity)
        if total > info.quantity > 0:
            raise OandaProtocolError(f"order {info.broker_order_id}: fills of {total} exceed its {info.quantity} units")
        before = sum((r.quantity for k, r in known.items() if k < key), Decimal("0"))
        report = report.model_copy(update={"cumulative_quantity": before + report.quantity})
        known[key] = report
        # A fill read late (before others already known) moves their cumulative figures.
        running = Decimal("0")
        for k in sorted(known):
            running += known[k].quantity
            if known[k].cumulative_quantity != running:
                known[k] = known[k].model_copy(update={"cumulative_quantity": running})
        self._bound()
        return known[key]

    def cancelled(self, transaction: OandaTransaction) -> None:
        if transaction.orderID and transaction.reason:
            self.cancel_reasons[transaction.orderID] = transaction.reason

    def _bound(self) -> None:
        while len(self._fills) > MAX_ORDERS:
            oldest = next(iter(self._fills))
            self._fills.pop(oldest)
            self.complete.discard(oldest)
