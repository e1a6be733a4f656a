"""Helpers for tests that watch a gateway's trade updates against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from domain.broker_integration import BrokerGateway, TradeEvent

__all__ = ["Collector", "eventually"]


class Collector:
    """Consumes a gateway's trade updates in the background."""

    def __init__(self, gateway: BrokerGateway) -> None:
        self.events: list[TradeEvent] = []
        self._task = asyncio.create_task(self._run(gateway))

    async def _run(self, gateway: BrokerGateway) -> None:
        async for event in gateway.trade_updates():
            self.events.append(event)

    def of(self, client_order_id: str) -> list[TradeEvent]:
        return [e for e in self.events if e.order.client_order_id == client_order_id]

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 5.0) -> None:
    """Wait until `check` holds (sync or async), polling every 50 ms; AssertionError after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
