"""Trade updates without ccxt.pro: a polling feed of the account's trades and order changes.

Each round reads, per followed market, the trades after the last trade id seen (`fromId`, so a feed that
restarts resumes where it stopped and misses nothing) and the open orders. A new trade becomes a FILL or
PARTIAL_FILL event whose execution id is the exchange's trade id, the same one `executions_since` reports,
so the domain records it once. An order that was working and is no longer open without being filled
becomes a CANCELED, EXPIRED or REJECTED event; an order seen open for the first time, a NEW event.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.broker_integration.ports import BrokerAuthenticationError, BrokerError, TradeEvent, TradeEventKind

from . import parsing
from .errors import CcxtUnavailableError

if TYPE_CHECKING:
    from .gateway import CcxtGateway

__all__ = ["TradePoller"]

log = logging.getLogger(__name__)
K = TradeEventKind


class TradePoller:
    """One polling feed over the gateway; cursors (last trade id per market) live in the gateway's FillReader."""

    def __init__(self, gateway: CcxtGateway, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._gateway = gateway
        self._sleep = sleep
        self._closed = False
        self._announced: set[str] = set()
        self._first_round = True

    def close(self) -> None:
        """Stop after the current round."""
        self._closed = True

    async def events(self) -> AsyncIterator[TradeEvent]:
        """Yield events forever; transient failures back off, a refused key or too many failures end it."""
        config, failures = self._gateway.config, 0
        while not self._closed:
            try:
                events = await self._round()
                failures = 0
            except BrokerAuthenticationError:
                raise
            except BrokerError as exc:
                failures += 1
                log.info("ccxt feed: round failed (%s), %d in a row", type(exc).__name__, failures)
                if failures >= config.poll_failures_before_error:
                    raise CcxtUnavailableError(f"trade updates: {failures} polls failed in a row") from None
                pause = min(config.poll_interval * 2 ** failures, config.poll_backoff_max)
                await self._sleep(pause * random.uniform(0.5, 1.0))
                continue
            for event in events:
                yield event
            await self._sleep(config.poll_interval)

    async def _round(self) -> list[TradeEvent]:
        events: list[TradeEvent] = []
        for symbol in self._gateway.followed_symbols():
            events += await self._fills(symbol)
            events += await self._order_changes(symbol)
        self._first_round = False
        return sorted(events, key=lambda e: e.occurred_at)

    async def _fills(self, symbol: str) -> list[TradeEvent]:
        gateway = self._gateway
        trades = await gateway.fills.new_trades(symbol)
        events: list[TradeEvent] = []
        for order_id in dict.fromkeys(str(t["order"]) for t in trades):
            snapshot, reports = await gateway.fills.order_executions(order_id, symbol)
            mine = {parsing.broker_order_id(str(t["id"]), symbol) for t in trades if str(t["order"]) == order_id}
            for report in reports:
                if report.execution_id not in mine:
                    continue
                done = report.cumulative_quantity == snapshot.quantity
                events.append(TradeEvent(kind=K.FILL if done else K.PARTIAL_FILL, order=snapshot,
                                         occurred_at=report.executed_at, execution=report,
                                         sequence=report.execution_id))
        return events

    async def _order_changes(self, symbol: str) -> list[TradeEvent]:
        gateway, now = self._gateway, datetime.now(UTC)
        known = {b for b, s in gateway.working.items() if s == symbol}
        open_now = {s.broker_order_id: s for s in await gateway.open_orders(symbol)}
        events: list[TradeEvent] = []
        for broker_id, snapshot in open_now.items():
            # Orders working before the feed started and never seen by this gateway are not news.
            fresh = broker_id not in self._announced and (not self._first_round or broker_id in known)
            if fresh:
                events.append(self._event(K.NEW, snapshot, snapshot.submitted_at or now))
            self._announced.add(broker_id)
        for broker_id in sorted(known - set(open_now)):
            snapshot = await gateway.get_order(broker_id)
            gateway.working.pop(broker_id, None)
            self._announced.discard(broker_id)
            kind = parsing.EVENT_KINDS.get(snapshot.status)
            if kind is not None and snapshot.status.is_terminal:  # FILLED: its trades are the events
                events.append(self._event(kind, snapshot, snapshot.updated_at or now))
        return events

    @staticmethod
    def _event(kind: TradeEventKind, snapshot: Any, at: datetime) -> TradeEvent:
        return TradeEvent(kind=kind, order=snapshot, occurred_at=at,
                          sequence=f"{snapshot.broker_order_id}:{snapshot.status}")
