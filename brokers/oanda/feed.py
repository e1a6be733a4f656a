"""Transactions as domain trade events, the streams of every account of the session merged into one.

Order creates are NEW, ORDER_FILLs are (PARTIAL_)FILL with their execution, ORDER_CANCELs are CANCELED,
EXPIRED, or REPLACED (a replace is a cancel with `replacedByOrderID`). Rejects answer the request that
caused them and are not repeated here (a duplicate client id's reject would otherwise reach a live order).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.broker_integration.enums import OrderType
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderSnapshot, TradeEvent, TradeEventKind

from . import parsing
from .errors import OandaOrderNotFoundError
from .fills import OrderInfo
from .schemas import OandaTransaction
from .stream import OandaTransactionStream

if TYPE_CHECKING:
    from .gateway import OandaGateway

__all__ = ["TransactionFeed"]

log = logging.getLogger(__name__)

K = TradeEventKind
S = OrderStatus
_CREATES = frozenset({"MARKET_ORDER", "LIMIT_ORDER", "STOP_ORDER", "MARKET_IF_TOUCHED_ORDER"})
_STOP = object()


class TransactionFeed:
    """Every account's transaction stream, as trade events."""

    def __init__(self, gateway: OandaGateway, accounts: list[str]) -> None:
        self._gateway = gateway
        self.streams = [OandaTransactionStream(a, gateway.client, gateway.config) for a in accounts]

    async def events(self) -> AsyncIterator[TradeEvent]:
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1024)
        tasks = [asyncio.create_task(self._pump(s, queue)) for s in self.streams]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                if not isinstance(item, tuple):
                    return
                for event in await self._events(*item):
                    yield event
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    @staticmethod
    async def _pump(stream: OandaTransactionStream, queue: asyncio.Queue[object]) -> None:
        try:
            async for transaction in stream.transactions():
                await queue.put((stream.account, transaction))
        except Exception as exc:  # a refused token: the consumer raises it
            await queue.put(exc)
            return
        await queue.put(_STOP)

    async def _events(self, account: str, transaction: OandaTransaction) -> list[TradeEvent]:
        gateway = self._gateway
        if transaction.type in _CREATES and transaction.id:
            info = gateway.info_from_create(transaction, account)
            at = parsing.ts_or_none(transaction.time) or datetime.now(UTC)
            return [self._event(K.NEW, info, at, transaction, S.ACCEPTED)]
        if transaction.type not in ("ORDER_FILL", "ORDER_CANCEL") or not transaction.orderID:
            return []
        try:
            info = await gateway.info_of(transaction.orderID, account)
        except OandaOrderNotFoundError:
            log.warning("oanda: transaction %s for an order the account does not have", transaction.id)
            return []
        at = parsing.ts_or_none(transaction.time) or datetime.now(UTC)
        if transaction.type == "ORDER_FILL":
            report = gateway.ledger.add(transaction, info)  # the stream yields each transaction once
            done = report.cumulative_quantity is not None and report.cumulative_quantity >= info.quantity
            kind, status = (K.FILL, S.FILLED) if done else (K.PARTIAL_FILL, S.PARTIALLY_FILLED)
            event = self._event(kind, info, at, transaction, status)
            return [event.model_copy(update={"execution": report})]
        gateway.ledger.cancelled(transaction)
        kind = parsing.CANCEL_KINDS.get(transaction.reason or "", K.CANCELED)
        outcome = {K.EXPIRED: S.EXPIRED, K.CANCELED: S.CANCELED}.get(kind)
        if outcome is None:  # replaced: the order lives on under its replacement
            outcome = S.PARTIALLY_FILLED if gateway.ledger.filled(info.broker_order_id) > 0 else S.ACCEPTED
        return [self._event(kind, info, at, transaction, outcome)]

    def _event(self, kind: TradeEventKind, info: OrderInfo, at: datetime, transaction: OandaTransaction,
               status: OrderStatus) -> TradeEvent:
        ledger = self._gateway.ledger
        fills = ledger.reports(info.broker_order_id)
        filled = sum((f.quantity for f in fills), Decimal("0"))
        value = sum((f.quantity * f.price for f in fills), Decimal("0"))
        snapshot = OrderSnapshot(
            broker_order_id=info.broker_order_id, client_order_id=info.client_order_id, status=status,
            symbol=info.symbol, quantity=info.quantity, filled_quantity=filled,
            filled_avg_price=(value / filled).normalize() if filled > 0 else None,
            limit_price=info.price if info.order_type is OrderType.LIMIT else None,
            stop_price=info.price if info.order_type is OrderType.STOP else None,
            replaced_by=transaction.replacedByOrderID, replaces=info.replaces, updated_at=at,
            reason="replaced" if kind is K.REPLACED else transaction.reason)
        return TradeEvent(kind=kind, order=snapshot, occurred_at=at, sequence=f"{info.account}:{transaction.id}")

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
