"""Executions from the exchange's trade list (myTrades): per order with cumulative quantities, since a time,
and after a trade id (the feed's cursor, one per market, kept for the gateway's life so a restarted feed
resumes where the last one stopped).

An execution's id is the exchange's trade id with its market ('56@BTC/USDT'): the same from the feed and
from a poll, so the domain records it once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.broker_integration.ports import OrderSnapshot
from domain.broker_integration.value_objects import ExecutionReport

from . import parsing

if TYPE_CHECKING:
    from .gateway import CcxtGateway

__all__ = ["FillReader"]

PAGE = 1000  # Binance's largest myTrades page


class FillReader:
    """The gateway's executions, read from the exchange's trades."""

    def __init__(self, gateway: CcxtGateway) -> None:
        self._gateway = gateway
        self.cursors: dict[str, int] = {}  # the last trade id the feed has seen, per market

    async def trades(self, symbol: str, since: int | None = None, limit: int | None = None,
                     **params: str) -> list[dict[str, Any]]:
        """ccxt's fetch_my_trades for one market (`since` in epoch milliseconds)."""
        client = await self._gateway.client()
        found: list[dict[str, Any]] = await client.call(
            f"fetch_my_trades {symbol}", lambda: client.exchange.fetch_my_trades(symbol, since, limit, params))
        return found

    async def order_executions(self, order_id: str, symbol: str) -> tuple[OrderSnapshot, list[ExecutionReport]]:
        """An order and all its executions, oldest first, each with the cumulative quantity after it."""
        gateway = self._gateway
        snapshot = await gateway.get_order(parsing.broker_order_id(order_id, symbol))
        trades = await self.trades(symbol, orderId=order_id)
        rules = await (await gateway.client()).rules(symbol)
        cumulative, reports = Decimal("0"), []
        for trade in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
            cumulative += parsing.dec(trade.get("amount")) or Decimal("0")
            reports.append(parsing.execution_report(trade, snapshot.client_order_id, gateway.connection_id,
                                                    cumulative, rules))
        return snapshot, reports

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        """Executions of the followed markets from `since` (the exchange's clock) on."""
        markets = await (await self._gateway.client()).markets()
        reports: list[ExecutionReport] = []
        for symbol in self._gateway.followed_symbols():
            if symbol not in markets:
                continue
            trades = await self.trades(symbol, since=int(since.timestamp() * 1000))
            for order_id in dict.fromkeys(str(t["order"]) for t in trades):
                _, found = await self.order_executions(order_id, symbol)
                reports += [r for r in found if r.executed_at >= since]
        return sorted(reports, key=lambda r: r.executed_at)

    async def new_trades(self, symbol: str) -> list[dict[str, Any]]:
        """The market's trades after the cursor (on first use: none; the cursor is set to the latest)."""
        if symbol not in await (await self._gateway.client()).markets():
            return []
        cursor = self.cursors.get(symbol)
        if cursor is None:
            latest = await self.trades(symbol, limit=1)
            self.cursors[symbol] = max((int(t["id"]) for t in latest), default=0)
            return []
        trades = await self.trades(symbol, limit=PAGE, fromId=str(cursor + 1))
        fresh = sorted((t for t in trades if int(t["id"]) > cursor), key=lambda t: int(t["id"]))
        if fresh:
            self.cursors[symbol] = int(fresh[-1]["id"])
        return fresh
