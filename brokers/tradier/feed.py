"""Account events as domain trade events; what a dropped stream missed is read back from the orders.

Tradier's events carry cumulative figures and no symbol or side: each event is joined with the order
it names (read once), and its fills are derived by the gateway's ledger, so a fill seen on the stream
and the same fill seen by a poll are one execution. After a reconnect the feed re-reads the orders
(the list of every account, plus the working ones it knew) and reports the fills and outcomes of the gap.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from domain.broker_integration.ports import OrderSnapshot, TradeEvent, TradeEventKind
from domain.broker_integration.value_objects import ExecutionReport

from . import parsing
from .errors import TradierOrderNotFoundError
from .fills import OrderInfo
from .schemas import TradierAccountEvent, TradierOrder
from .stream import StreamGap, TradierEventStream

if TYPE_CHECKING:
    from .gateway import TradierGateway

__all__ = ["AccountEventFeed"]

log = logging.getLogger(__name__)

_OUTCOMES = frozenset({"canceled", "expired", "rejected", "error"})
K = TradeEventKind


def _snapshot(info: OrderInfo, wire: TradierAccountEvent | TradierOrder, at: datetime) -> OrderSnapshot:
    filled = parsing.dec(wire.exec_quantity if wire.exec_quantity is not None
                         else getattr(wire, "executed_quantity", None))
    status = parsing.STATUS_FROM_TRADIER.get(wire.status)
    if status is None:
        status = parsing.S.PARTIALLY_FILLED if filled > 0 else parsing.S.ACCEPTED
    kind = wire.type or ""
    price, stop = parsing.decimal_or_none(wire.price), parsing.decimal_or_none(wire.stop_price)
    return OrderSnapshot(
        broker_order_id=info.broker_order_id, client_order_id=info.client_order_id, status=status,
        symbol=info.symbol, quantity=info.quantity, filled_quantity=filled,
        filled_avg_price=parsing.decimal_or_none(wire.avg_fill_price) if filled > 0 else None,
        limit_price=price if kind in ("limit", "stop_limit") and price else None,
        stop_price=stop if kind in ("stop", "stop_limit") and stop else None,
        submitted_at=parsing.ts_or_none(wire.create_date), updated_at=at,
        reason=getattr(wire, "reason_description", None) or None)


class AccountEventFeed:
    """One token's account events, joined with their orders, fills derived once, gaps read back."""

    def __init__(self, gateway: TradierGateway, connector: Callable[..., Any]) -> None:
        self._gateway = gateway
        self.stream = TradierEventStream(gateway.config.events_url, gateway.new_stream_session, gateway.config,
                                         connector=connector)
        self._working: dict[str, str] = {}

    async def events(self) -> AsyncIterator[TradeEvent]:
        async for item in self.stream.updates():
            produced = await self._gap() if isinstance(item, StreamGap) else await self._from_event(item)
            for event in produced:
                yield event

    def _events(self, info: OrderInfo, wire: TradierAccountEvent | TradierOrder, fills: list[ExecutionReport],
                at: datetime, changed: bool) -> list[TradeEvent]:
        snapshot = _snapshot(info, wire, at)
        events = [TradeEvent(kind=K.FILL if r.cumulative_quantity == info.quantity else K.PARTIAL_FILL,
                             order=snapshot, occurred_at=r.executed_at, execution=r, sequence=r.execution_id)
                  for r in fills]
        if changed and wire.status not in ("filled", "partially_filled"):
            events.append(TradeEvent(kind=parsing.EVENT_KINDS.get(wire.status, K.OTHER), order=snapshot,
                                     occurred_at=at, sequence=f"{info.broker_order_id}:{wire.status}:{at.isoformat()}"))
        if wire.status in parsing.WORKING_STATUSES:
            self._working[info.broker_order_id] = wire.status
        else:
            self._working.pop(info.broker_order_id, None)
        return events

    async def _from_event(self, event: TradierAccountEvent) -> list[TradeEvent]:
        if event.account and event.account not in await self._gateway.accounts():
            return []  # the stream covers every account of the user; a pinned connection uses one
        try:
            info = await self._gateway.info_of(str(event.id))
        except TradierOrderNotFoundError:
            log.warning("tradier: event for order %s, which no account of the connection has", event.id)
            return []
        at = parsing.ts_or_none(event.transaction_date) or datetime.now(UTC)
        cumulative = parsing.dec(event.exec_quantity if event.exec_quantity is not None else event.executed_quantity)
        fills = self._gateway.ledger.observe(
            info, cumulative, parsing.decimal_or_none(event.avg_fill_price), at,
            last_qty=parsing.decimal_or_none(event.last_fill_quantity),
            last_price=parsing.decimal_or_none(event.last_fill_price))
        return self._events(info, event, fills, at, changed=True)

    async def _gap(self) -> list[TradeEvent]:
        """The fills and outcomes of the orders while the stream was down, oldest first."""
        events: list[TradeEvent] = []
        for wire, info in await self._gateway.open_and_changed(set(self._working)):
            known = self._working.get(info.broker_order_id)
            fills = self._gateway.observe(wire, info)
            if known is None and not fills:
                continue  # neither working when the stream dropped nor filled since
            changed = known is not None and known != wire.status and wire.status in _OUTCOMES
            at = parsing.ts_or_none(wire.transaction_date) or datetime.now(UTC)
            events += self._events(info, wire, fills, at, changed)
        return sorted(events, key=lambda e: e.occurred_at)

    def close(self) -> None:
        self.stream.close()
