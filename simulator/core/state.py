"""The exchange's mutable state and its event log; one event loop owns it, so no locks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from simulator.core.accounts import Account
from simulator.core.clock import SimClock
from simulator.core.fees import FeeSchedule
from simulator.core.instruments import Instrument
from simulator.core.model import Activity, OrderStatus, Rejection, RejectKind, SimOrder, TradeEvent

__all__ = ["EventLog", "ExchangeQuirks", "MarketState"]

Listener = Callable[[TradeEvent], None]


class EventLog:
    """Numbers trade events, keeps their history and hands each to every listener, in order."""

    def __init__(self) -> None:
        self.history: list[TradeEvent] = []
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register `listener`; return a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def publish(self, event: TradeEvent) -> None:
        self.history.append(event)
        for listener in list(self._listeners):
            listener(event)

    @property
    def next_seq(self) -> int:
        return len(self.history) + 1


@dataclass
class ExchangeQuirks:
    """Venue-side races a test can arm: each counter is consumed by the next matching request."""

    fill_before_cancel: int = 0
    fill_before_replace: int = 0
    reject_after_accept: int = 0
    emit_pending_new: bool = False
    # Alpaca copies the original qty into a replacement of a partially filled order (Alpaca-API #165).
    replace_keeps_original_qty: bool = True
    eod_done_for_day: bool = False
    # Anomalies a test can inject (they stay on until turned off): fills priced this many basis points
    # worse than the quote (through a limit at the touch), orders that work but never fill, orders that
    # fill once, partially, and then stall.
    bad_fill_bps: float = 0
    stall_fills: bool = False
    stall_after_partial: bool = False


@dataclass
class MarketState:
    """Everything the exchange knows; core modules change it, front ends read it."""

    clock: SimClock
    instruments: dict[str, Instrument]
    fees: FeeSchedule
    tick_seconds: Decimal
    accounts: dict[str, Account] = field(default_factory=dict)
    orders: dict[str, SimOrder] = field(default_factory=dict)
    client_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    events: EventLog = field(default_factory=EventLog)
    quirks: ExchangeQuirks = field(default_factory=ExchangeQuirks)
    next_order_seq: int = 1

    def now(self) -> datetime:
        return self.clock.now()

    def marks(self) -> dict[str, Decimal]:
        """What one unit of each instrument is worth: its price times its multiplier (100 for an option)."""
        return {s: i.price * i.spec.multiplier for s, i in self.instruments.items()}

    def open_orders(self, account_id: str | None = None, symbol: str | None = None) -> list[SimOrder]:
        """Return open orders in time priority, optionally for one account and/or symbol."""
        return [
            o for o in self.orders.values()
            if o.is_open and (account_id is None or o.account_id == account_id)
            and (symbol is None or o.symbol == symbol)
        ]

    def order_of(self, account_id: str, order_id: str) -> SimOrder:
        """Return the account's order or raise NOT_FOUND (other accounts' orders are invisible)."""
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise Rejection(RejectKind.NOT_FOUND, "order not found")
        return order

    def instrument(self, symbol: str) -> Instrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise Rejection(RejectKind.UNKNOWN_ASSET, f'could not find asset "{symbol}"')
        return inst

    def set_status(self, order: SimOrder, status: OrderStatus) -> None:
        order.status = status
        order.updated_at = self.now()

    def emit(self, event: str, order: SimOrder, **fields: object) -> TradeEvent:
        """Publish `event` with a snapshot of `order` as it is now."""
        record = TradeEvent(
            seq=self.events.next_seq, event=event, order=order.snapshot(), timestamp=self.now(),
            **fields,  # type: ignore[arg-type]
        )
        self.events.publish(record)
        return record
