"""Trade updates as domain events, with the gaps of a dropped stream filled from the account activities.

After a reconnect Alpaca does not replay what it sent while we were away. The feed asks the FILL
activities for every execution since the last event it saw, on Alpaca's clock (less a margin),
skips the ones it already delivered, and re-reads the orders it saw working to report the cancels
and expiries of the gap.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from domain.broker_integration.ports import TradeEvent, TradeEventKind

from . import parsing
from .client import AlpacaAuth
from .schemas import AlpacaOrder, AlpacaTradeUpdate
from .sessions import AlpacaSession
from .stream import AlpacaTradeStream, StreamGap

if TYPE_CHECKING:
    from .gateway import AlpacaGateway

__all__ = ["FINAL_STATUSES", "BoundedMap", "RecentIds", "TradeUpdateFeed"]

K = TypeVar("K")
V = TypeVar("V")

FINAL_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
# Fills come from the activities; these are the other outcomes a gap can hide.
_GAP_OUTCOMES = frozenset({"canceled", "expired", "rejected", "replaced", "done_for_day", "pending_cancel"})


class BoundedMap(Generic[K, V]):
    """A mapping that keeps the `capacity` most recently used entries (a miss must be recoverable)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The value of `key` (now the most recent), or None."""
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


class RecentIds:
    """A bounded set of ids, oldest forgotten first."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def add(self, item: str) -> bool:
        """Remember `item`; False when it was known already."""
        if item in self._ids:
            return False
        self._ids[item] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


def _auth_of(session: AlpacaSession) -> Callable[[], AlpacaAuth]:
    return lambda: session.auth


class TradeUpdateFeed:
    """The streams of a gateway's sessions, merged, deduplicated by execution id, gaps replayed."""

    def __init__(self, gateway: AlpacaGateway, sessions: list[AlpacaSession], connector: Callable[..., Any]) -> None:
        self._gateway = gateway
        config = gateway.config
        self._margin = timedelta(seconds=config.gap_margin_seconds)
        # A session outlives any re-login of its account (the pool refreshes its credentials in place):
        # the streams ask it for the current credentials at every connect.
        self._pairs = [(s, AlpacaTradeStream(config.trade_stream_url, _auth_of(s), config, connector=connector))
                       for s in sessions]
        self._seen = RecentIds()
        self._working: dict[str, str] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def events(self) -> AsyncIterator[TradeEvent]:
        """Every event of every session's stream, in arrival order per session."""
        if len(self._pairs) == 1:
            async for event in self._session_events(*self._pairs[0]):
                yield event
            return
        queue: asyncio.Queue[TradeEvent | BaseException] = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._pump(s, st, queue)) for s, st in self._pairs]
        while True:
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    async def _pump(self, session: AlpacaSession, stream: AlpacaTradeStream,
                    queue: asyncio.Queue[TradeEvent | BaseException]) -> None:
        try:
            async for event in self._session_events(session, stream):
                await queue.put(event)
        except Exception as exc:
            await queue.put(exc)

    async def _session_events(self, session: AlpacaSession, stream: AlpacaTradeStream) -> AsyncIterator[TradeEvent]:
        # The gap is measured on Alpaca's clock (its clock endpoint, then event times), never on ours.
        mark = await self._gateway.broker_time(session)
        async for item in stream.updates():
            if isinstance(item, StreamGap):
                replayed = await self._gap_events(session, mark)
                for old in replayed:
                    mark = max(mark, old.occurred_at)
                    yield old
                continue
            event = self._event(session, item)
            if event is not None:
                mark = max(mark, event.occurred_at)
                yield event

    def _track(self, wire: AlpacaOrder) -> None:
        if wire.status in FINAL_STATUSES:
            self._working.pop(wire.id, None)
        else:
            self._working[wire.id] = wire.status

    def _event(self, session: AlpacaSession, update: AlpacaTradeUpdate) -> TradeEvent | None:
        self._gateway.note(update.order, session)
        self._track(update.order)
        side = self._gateway.side_of(update.order.client_order_id)
        event = parsing.trade_event(update, self._gateway.connection_id, side)
        if event.execution is not None and not self._seen.add(event.execution.execution_id):
            return None
        return event

    async def _gap_events(self, session: AlpacaSession, since: datetime) -> list[TradeEvent]:
        working = dict(self._working)
        events = await self._gap_fills(session, since - self._margin)
        return events + await self._gap_outcomes(working)

    async def _gap_fills(self, session: AlpacaSession, since: datetime) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        orders: dict[str, AlpacaOrder] = {}
        for activity in await self._gateway.fill_activities(session, since):
            if parsing.execution_id_from_activity(activity.id) in self._seen:
                continue
            report = await self._gateway.report(session, activity)
            if activity.order_id not in orders:
                orders[activity.order_id], _ = await self._gateway.fetch_order(activity.order_id, session)
            self._seen.add(report.execution_id)
            kind = TradeEventKind.FILL if activity.type == "fill" else TradeEventKind.PARTIAL_FILL
            events.append(TradeEvent(kind=kind, order=parsing.order_snapshot(orders[activity.order_id]),
                                     occurred_at=report.executed_at, execution=report, sequence=activity.id))
        for wire in orders.values():
            self._track(wire)
        return events

    async def _gap_outcomes(self, working: dict[str, str]) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for order_id, last_status in working.items():
            wire, _ = await self._gateway.fetch_order(order_id)
            self._track(wire)
            if wire.status == last_status or wire.status not in _GAP_OUTCOMES:
                continue
            when = wire.updated_at
            at = parsing.parse_timestamp(when) if when else datetime.now(UTC)
            events.append(TradeEvent(kind=parsing.EVENT_KINDS[wire.status], order=parsing.order_snapshot(wire),
                                     occurred_at=at, sequence=f"{wire.id}:{wire.status}:resync"))
        return events

    async def aclose(self) -> None:
        """Stop the streams and their tasks."""
        for _, stream in self._pairs:
            stream.close()
        for task in self._tasks:
            task.cancel()
        self._tasks = []
