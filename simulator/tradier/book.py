"""Tradier's view of the exchange: integer order ids, tags, Tradier's sides, and modify-in-place.

The core replaces an order with a new one (Alpaca's model). Tradier modifies an order in place and it
keeps its id, so one Tradier order is a chain of core orders: the first one and each modification's
replacement. Quantities, fills and prices are summed over the chain; terms and status come from the
newest link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from simulator.core import Exchange, OrderStatus, SimOrder, TradeEvent
from simulator.tradier.wire import num, ts

__all__ = ["TradierBook", "TradierOrder"]

ZERO = Decimal(0)
# Core events that change what a Tradier client sees (pending_* and `replaced` are internal steps here).
_EVENTS = frozenset({"accepted", "new", "pending_new", "partial_fill", "fill", "canceled", "expired", "rejected",
                     "order_cancel_rejected", "order_replace_rejected"})
_STATUS = {OrderStatus.FILLED: "filled", OrderStatus.CANCELED: "canceled", OrderStatus.EXPIRED: "expired",
           OrderStatus.REJECTED: "rejected", OrderStatus.PENDING_NEW: "pending"}


@dataclass
class TradierOrder:
    """One Tradier order: its id, the words the client used, and the core orders behind it."""

    id: int
    account_id: str
    side: str
    duration: str
    tag: str | None
    core_ids: list[str] = field(default_factory=list)
    last_fill_qty: Decimal = ZERO
    last_fill_price: Decimal = ZERO


class TradierBook:
    """Tradier ids for the core's orders of one exchange; publishes Tradier order events."""

    def __init__(self, exchange: Exchange, publish: Callable[[str, dict[str, Any]], None]) -> None:
        self.exchange = exchange
        self._publish = publish
        self.orders: dict[int, TradierOrder] = {}
        self._by_core: dict[str, int] = {}
        self._next_id = 100001
        self.pending: TradierOrder | None = None
        exchange.state.events.subscribe(self._on_event)

    def add(self, account_id: str, side: str, duration: str, tag: str | None) -> TradierOrder:
        """Reserve a Tradier order before the core sees it (the core emits events during submit)."""
        record = TradierOrder(self._next_id, account_id, side, duration, tag)
        self._next_id += 1
        self.orders[record.id] = record
        return record

    def link(self, record: TradierOrder, core_id: str) -> None:
        record.core_ids.append(core_id)
        self._by_core[core_id] = record.id

    def tag_of(self, core_id: str) -> str | None:
        """The tag the client gave the Tradier order behind a core order (None: untagged or not Tradier's)."""
        tid = self._by_core.get(core_id)
        return self.orders[tid].tag if tid is not None else None

    def forget(self, record: TradierOrder) -> None:
        """Drop a reservation the core refused."""
        self.pending = None
        if not record.core_ids:
            self.orders.pop(record.id, None)

    def of_core(self, order: SimOrder) -> TradierOrder:
        """The Tradier order of a core order (orders placed through another front end get one too)."""
        tid = self._by_core.get(order.id)
        if tid is None and order.replaces is not None:
            tid = self._by_core.get(order.replaces)
        if tid is None and self.pending is not None and not self.pending.core_ids:
            tid = self.pending.id  # the order being placed right now through this front end
        if tid is None:
            tid = self.add(order.account_id, order.side.value, order.time_in_force.value, None).id
        if order.id not in self._by_core:
            self.link(self.orders[tid], order.id)
        return self.orders[tid]

    def get(self, account_id: str, order_id: str) -> TradierOrder | None:
        try:
            record = self.orders.get(int(order_id))
        except ValueError:
            return None
        return record if record is not None and record.account_id == account_id and record.core_ids else None

    def of_account(self, account_id: str) -> list[TradierOrder]:
        for order in sorted(self.exchange.state.orders.values(), key=lambda o: o.seq):
            if order.account_id == account_id:
                self.of_core(order)
        return [r for r in self.orders.values() if r.account_id == account_id and r.core_ids]

    def chain(self, record: TradierOrder) -> list[SimOrder]:
        return [self.exchange.state.orders[i] for i in record.core_ids]

    def live(self, record: TradierOrder) -> SimOrder:
        """The link that carries the order's terms: the newest, unless it is a modification the venue refused."""
        chain = self.chain(record)
        if chain[-1].status is OrderStatus.REJECTED and len(chain) > 1:
            return chain[-2]
        return chain[-1]

    def status(self, record: TradierOrder) -> str:
        mapped = _STATUS.get(self.live(record).status)
        if mapped is not None:
            return mapped
        return "partially_filled" if self.executed(record) > 0 else "open"

    def executed(self, record: TradierOrder) -> Decimal:
        return sum((o.filled_qty for o in self.chain(record)), ZERO)

    def view(self, record: TradierOrder, *, tags: bool = True) -> dict[str, Any]:
        """The order object of GET /v1/accounts/{id}/orders[/{order_id}]."""
        chain = self.chain(record)
        first, last = chain[0], self.live(record)
        executed = self.executed(record)
        value = sum((o.filled_value for o in chain), ZERO)
        quantity = first.qty if first.qty is not None else first.target_qty
        body: dict[str, Any] = {
            "id": record.id, "type": last.type.value, "symbol": last.symbol, "side": record.side,
            "quantity": num(quantity), "status": self.status(record), "duration": record.duration,
            "avg_fill_price": num(value / executed if executed else ZERO), "exec_quantity": num(executed),
            "last_fill_price": num(record.last_fill_price), "last_fill_quantity": num(record.last_fill_qty),
            "remaining_quantity": num(max(quantity - executed, ZERO) if self.status(record) in (
                "open", "partially_filled", "pending") else ZERO),
            "create_date": ts(first.created_at), "transaction_date": ts(last.updated_at or last.created_at),
            "class": "equity",
        }
        if last.limit_price is not None:
            body["price"] = num(last.limit_price)
        if last.stop_price is not None:
            body["stop_price"] = num(last.stop_price)
        if last.status is OrderStatus.REJECTED:
            body["reason_description"] = "Order rejected by the exchange"
        if tags and record.tag:
            body["tag"] = record.tag
        return body

    def event(self, record: TradierOrder, account_number: str) -> dict[str, Any]:
        """The account stream's order event (no symbol or side: clients join on `id`)."""
        view = self.view(record)
        body = {"id": record.id, "event": "order", "status": view["status"], "type": view["type"],
                "price": view.get("price", 0.0), "stop_price": view.get("stop_price", 0.0),
                "avg_fill_price": view["avg_fill_price"], "exec_quantity": view["exec_quantity"],
                "last_fill_quantity": view["last_fill_quantity"], "remaining_quantity": view["remaining_quantity"],
                "transaction_date": view["transaction_date"], "create_date": view["create_date"],
                "account": account_number}
        if record.tag:
            body["tag"] = record.tag
        return body

    def _on_event(self, event: TradeEvent) -> None:
        if event.event not in _EVENTS:
            return
        record = self.of_core(self.exchange.state.orders.get(event.order.id, event.order))
        if event.execution_id is not None and event.qty is not None and event.price is not None:
            record.last_fill_qty, record.last_fill_price = event.qty, event.price
        account = self.exchange.state.accounts[record.account_id]
        self._publish(record.account_id, self.event(record, account.number))
