"""Tradier's view of the exchange: integer order ids, tags, Tradier's sides, and modify-in-place.

The core replaces an order with a new one (Alpaca's model). Tradier modifies an order in place and it
keeps its id, so one Tradier order is a chain of core orders: the first one and each modification's
replacement. Quantities, fills and prices are summed over the chain; terms and status come from the
newest link.

An option order (`class: option`) shows its underlying as `symbol` and the contract as `option_symbol`.
An oto/oco/otoco order is a parent without core orders of its own and legs that each are one: the parent
is listed with its `leg` list (legs are not listed on their own) and its status sums up its legs'; each
leg can be read, and is reported on the stream, under its own id with `parent_id`.
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
           OrderStatus.REJECTED: "rejected", OrderStatus.PENDING_NEW: "pending", OrderStatus.HELD: "pending"}


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
    klass: str = "equity"  # "option", or a group's "oto" | "oco" | "otoco"
    underlying: str | None = None  # an option order's `symbol` (the contract is the core order's symbol)
    parent_id: int | None = None  # a group leg's parent
    legs: list[int] = field(default_factory=list)  # a group's legs, in the order they were sent

    @property
    def is_group(self) -> bool:
        return bool(self.legs)


class TradierBook:
    """Tradier ids for the core's orders of one exchange; publishes Tradier order events."""

    def __init__(self, exchange: Exchange, publish: Callable[[str, dict[str, Any]], None]) -> None:
        self.exchange = exchange
        self._publish = publish
        self.orders: dict[int, TradierOrder] = {}
        self._by_core: dict[str, int] = {}
        self._next_id = 100001
        self.pending: TradierOrder | None = None
        # A group being placed: the core order with this client id is its first leg, that order's legs the rest.
        self.pending_group: tuple[str, list[TradierOrder]] | None = None
        exchange.state.events.subscribe(self._on_event)

    def add(self, account_id: str, side: str, duration: str, tag: str | None, *, klass: str = "equity",
            underlying: str | None = None, parent_id: int | None = None) -> TradierOrder:
        """Reserve a Tradier order before the core sees it (the core emits events during submit)."""
        record = TradierOrder(self._next_id, account_id, side, duration, tag, klass=klass, underlying=underlying,
                              parent_id=parent_id)
        self._next_id += 1
        self.orders[record.id] = record
        return record

    def _group_leg(self, order: SimOrder) -> TradierOrder | None:
        """The reserved leg of the group being placed that a core order is, if it is one."""
        if self.pending_group is None:
            return None
        client_id, legs = self.pending_group
        if order.client_order_id == client_id:
            return legs[0]
        parent = self.exchange.state.orders.get(order.parent_id or "")
        if parent is None or parent.client_order_id != client_id or order.id not in parent.legs:
            return None
        return legs[parent.legs.index(order.id) + 1]

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
        if tid is None and (leg := self._group_leg(order)) is not None:
            tid = leg.id
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
        placed = record is not None and (record.core_ids or record.is_group)
        return record if record is not None and placed and record.account_id == account_id else None

    def of_account(self, account_id: str) -> list[TradierOrder]:
        """The account's orders as Tradier lists them: a group once, as its parent (legs inside)."""
        for order in sorted(self.exchange.state.orders.values(), key=lambda o: o.seq):
            if order.account_id == account_id:
                self.of_core(order)
        return [r for r in self.orders.values()
                if r.account_id == account_id and r.parent_id is None and (r.core_ids or r.is_group)]

    def chain(self, record: TradierOrder) -> list[SimOrder]:
        return [self.exchange.state.orders[i] for i in record.core_ids]

    def live(self, record: TradierOrder) -> SimOrder:
        """The link that carries the order's terms: the newest, unless it is a modification the venue refused."""
        chain = self.chain(record)
        if chain[-1].status is OrderStatus.REJECTED and len(chain) > 1:
            return chain[-2]
        return chain[-1]

    def status(self, record: TradierOrder) -> str:
        if record.is_group:
            return self._group_status(record)
        mapped = _STATUS.get(self.live(record).status)
        if mapped is not None:
            return mapped
        return "partially_filled" if self.executed(record) > 0 else "open"

    def executed(self, record: TradierOrder) -> Decimal:
        return sum((o.filled_qty for o in self.chain(record)), ZERO)

    def view(self, record: TradierOrder, *, tags: bool = True) -> dict[str, Any]:
        """The order object of GET /v1/accounts/{id}/orders[/{order_id}]."""
        if record.is_group:
            return self._group_view(record, tags=tags)
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
            "class": record.klass,
        }
        if record.klass == "option":
            body["symbol"], body["option_symbol"] = record.underlying, last.symbol
        if record.parent_id is not None:
            body["parent_id"] = record.parent_id
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
        if record.parent_id is not None:
            body["parent_id"] = record.parent_id
        return body

    def legs_of(self, record: TradierOrder) -> list[TradierOrder]:
        return [self.orders[i] for i in record.legs]

    def _group_status(self, record: TradierOrder) -> str:
        """Working while any leg works; then filled if a leg filled, else the first leg's outcome."""
        statuses = [self.status(leg) for leg in self.legs_of(record)]
        working = [s for s in statuses if s in ("open", "partially_filled", "pending")]
        if working:
            return "partially_filled" if "partially_filled" in working else "open"
        return "filled" if "filled" in statuses else statuses[0]

    def _group_view(self, record: TradierOrder, *, tags: bool) -> dict[str, Any]:
        """A group's order: its first leg's terms [ASSUME], its own id, class and status, and its legs."""
        legs = [self.view(leg, tags=False) for leg in self.legs_of(record)]
        body = {k: v for k, v in legs[0].items() if k != "parent_id"}
        body.update({"id": record.id, "class": record.klass, "status": self._group_status(record),
                     "num_legs": len(legs), "leg": legs})
        if tags and record.tag:
            body["tag"] = record.tag
        return body

    def cancel_target(self, record: TradierOrder) -> SimOrder | None:
        """The core order to cancel for a Tradier order (a group: its first working leg; the core cancels the
        rest of the group with it); None when nothing works any more."""
        if not record.is_group:
            return self.live(record)
        working = [self.live(leg) for leg in self.legs_of(record) if self.live(leg).is_open]
        return working[0] if working else None

    def _on_event(self, event: TradeEvent) -> None:
        if event.event not in _EVENTS:
            return
        record = self.of_core(self.exchange.state.orders.get(event.order.id, event.order))
        if event.execution_id is not None and event.qty is not None and event.price is not None:
            record.last_fill_qty, record.last_fill_price = event.qty, event.price
        account = self.exchange.state.accounts[record.account_id]
        self._publish(record.account_id, self.event(record, account.number))
