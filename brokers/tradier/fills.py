"""Executions from Tradier's cumulative figures: Tradier reports no execution ids and no fill list per order.

Every order object and stream event carries the executed quantity so far and the average price. Each
rise of the executed quantity is one execution: its quantity is the rise, its price what the new
average implies (`avg_now * cum_now - value_before) / rise`, and its id `<order id>-<cum>`, the same
from the stream and from a poll, so the domain records it once. A ledger that starts late (a restart)
splits the first observation at the order's `last_fill_quantity`/`last_fill_price` when it has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.broker_integration.enums import OrderSide
from domain.broker_integration.value_objects import ExecutionReport

from .errors import TradierProtocolError
from .parsing import format_decimal, typed_parser
from .schemas import MAX_MAGNITUDE

__all__ = ["FillLedger", "OrderInfo"]

PRICE_STEP = Decimal("0.0001")
MAX_ORDERS = 8192


@dataclass(frozen=True)
class OrderInfo:
    """What a stream event lacks: the order's tag (client order id), symbol, side, quantity and account.

    The quantity of a Tradier order never changes (a modify cannot change it).
    """

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    account_number: str
    quantity: Decimal


class FillLedger:
    """The executions derived so far, per order; the same cumulative figure always gives the same report."""

    def __init__(self, connection_id: str | None = None) -> None:
        self.connection_id = connection_id
        self._fills: dict[str, list[ExecutionReport]] = {}

    def reports(self, broker_order_id: str) -> list[ExecutionReport]:
        """Every execution known for an order, oldest first."""
        return list(self._fills.get(broker_order_id, []))

    @typed_parser
    def observe(self, info: OrderInfo, cumulative: Decimal, avg_price: Decimal | None, at: datetime, *,
                last_qty: Decimal | None = None, last_price: Decimal | None = None) -> list[ExecutionReport]:
        """The new executions implied by `cumulative` at `avg_price` (none when nothing new filled).

        Figures no order can have (a negative or non-finite quantity or price, more filled than ordered)
        are refused with TradierProtocolError, before anything is recorded."""
        _check_figures(info, cumulative, avg_price, last_qty, last_price)
        known = self._fills.setdefault(info.broker_order_id, [])
        done = known[-1].cumulative_quantity if known else Decimal("0")
        if done is None or cumulative <= done or not avg_price:
            return []
        value = sum((r.quantity * r.price for r in known), Decimal("0"))
        new: list[ExecutionReport] = []
        split = not known and last_qty and last_price and Decimal("0") < last_qty < cumulative
        if split and last_qty is not None and last_price is not None:
            head = cumulative - last_qty
            head_price = (avg_price * cumulative - last_price * last_qty) / head
            new.append(self._report(info, head, head, head_price, avg_price, at))
            new.append(self._report(info, last_qty, cumulative, last_price, avg_price, at))
        else:
            rise = cumulative - done
            new.append(self._report(info, rise, cumulative, (avg_price * cumulative - value) / rise, avg_price, at))
        known.extend(new)
        self._bound()
        return new

    def _report(self, info: OrderInfo, qty: Decimal, cumulative: Decimal, price: Decimal, avg_price: Decimal,
                at: datetime) -> ExecutionReport:
        # Rounding in Tradier's average can imply a nonsensical price; the average is then the best figure.
        price = price.quantize(PRICE_STEP).normalize() if 0 < price < MAX_MAGNITUDE else avg_price
        return ExecutionReport(
            execution_id=f"{info.broker_order_id}-{format_decimal(cumulative)}",
            client_order_id=info.client_order_id, broker_order_id=info.broker_order_id,
            connection_id=self.connection_id, symbol=info.symbol, side=info.side, quantity=qty,
            price=price, executed_at=at, cumulative_quantity=cumulative)

    def _bound(self) -> None:
        while len(self._fills) > MAX_ORDERS:
            self._fills.pop(next(iter(self._fills)))


def _check_figures(info: OrderInfo, cumulative: Decimal, avg_price: Decimal | None, last_qty: Decimal | None,
                   last_price: Decimal | None) -> None:
    for name, value in (("exec_quantity", cumulative), ("avg_fill_price", avg_price),
                        ("last_fill_quantity", last_qty), ("last_fill_price", last_price)):
        if value is not None and (not value.is_finite() or not 0 <= value < MAX_MAGNITUDE):
            raise TradierProtocolError(f"order {info.broker_order_id}: {name} {value} is not a quantity or price")
    if cumulative > info.quantity > 0:
        raise TradierProtocolError(
            f"order {info.broker_order_id}: exec_quantity {cumulative} exceeds its quantity {info.quantity}")
