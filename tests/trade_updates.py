"""Helpers for tests that watch a gateway's trade updates against the simulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from activities.connection_models import StreamPosition
from domain.broker_integration import BrokerGateway, TradeEvent

__all__ = ["Collector", "RecordingForwarder", "eventually"]


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


class RecordingForwarder:
    """Stands in for `EventForwarder` in a `StreamRunner`: records what it is given to forward, each execution once
    (what it forwarded already is skipped, as the real forwarder does)."""

    def __init__(self, position: StreamPosition) -> None:
        self.position = position
        self.events: list[TradeEvent] = []

    async def forward(self, event: TradeEvent) -> None:
        if event.execution is not None:
            if self.position.seen(event.execution.execution_id):
                return
            self.position.remember(event.execution.execution_id)
        self.events.append(event)
        self.position.forwarded += 1


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
