"""Section 3: resting orders. N limit orders far from the market rest at the broker on the streamed
connection; once their poll back-off has settled, the bench measures an idle window: activity executions
per minute (every attempt this process's worker ran, by type), and CPU of each process.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psutil

from activities.models import OrderRequest
from workflows.order_workflow import order_workflow_id

from .stack import STREAMED, BenchStack
from .stats import percentile

__all__ = ["RestingResult", "run_resting"]

SYMBOL, PRICE, LIMIT = "SIRI", Decimal("3.85"), Decimal("1.00")
TARGET_POLLS_PER_ORDER_MINUTE = 1.0


@dataclass
class RestingResult:
    orders: int
    submit_seconds: float
    settle_seconds: float
    window_seconds: float
    activities: dict[str, int] = field(default_factory=dict)
    cpu_percent: dict[str, float] = field(default_factory=dict)
    worker_rss_mib: float = 0.0
    stream_running: bool = False
    history_events_one_order: int = 0
    history_events_in_window: int = 0
    # p50 seconds of pre_trade_check (and record_order) in the first and last quarter of the submissions
    submit_activity_p50: dict[str, list[float | None]] = field(default_factory=dict)

    @property
    def per_minute(self) -> float:
        return sum(self.activities.values()) * 60 / self.window_seconds if self.window_seconds else 0.0

    @property
    def polls_per_order_minute(self) -> float:
        polls = self.activities.get("poll_order", 0)
        return polls * 60 / self.window_seconds / self.orders if self.orders and self.window_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        rate = self.orders / self.submit_seconds if self.submit_seconds else None
        return self.__dict__ | {"activities_per_minute": self.per_minute,
                                "polls_per_order_minute": self.polls_per_order_minute,
                                "submit_orders_per_s": rate,
                                "history_events_per_hour_one_order": self._events_per_hour()}

    def _events_per_hour(self) -> float | None:
        """History growth of one idle order (the last submitted) during the window, per hour."""
        if not self.window_seconds:
            return None
        return self.history_events_in_window * 3600 / self.window_seconds


async def _submit_all(stack: BenchStack, cids: list[str], concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(cid: str) -> None:
        async with gate:
            await stack.orders.submit_and_wait_for_ack(OrderRequest(
                client_order_id=cid, symbol=SYMBOL, side="BUY", quantity=1, order_type="LIMIT",
                limit_price=LIMIT, connection_id=STREAMED), timeout=300)

    await asyncio.gather(*(one(cid) for cid in cids))


async def run_resting(stack: BenchStack, orders: int, settle: float, window: float,
                      say: Any = print) -> RestingResult:
    await asyncio.to_thread(stack.sim.admin.set_price, SYMBOL, str(PRICE), 0)
    cids = [f"rest{uuid.uuid4().hex[:6]}-{n}" for n in range(orders)]
    started = time.perf_counter()
    await _submit_all(stack, cids, max(stack.concurrency, 20))
    submit_seconds = time.perf_counter() - started
    say(f"  {orders} resting orders acknowledged in {submit_seconds:.0f}s; settling {settle:.0f}s")
    await asyncio.sleep(settle)
    sample = stack.client.get_workflow_handle(order_workflow_id(cids[-1]))
    events_before = len((await sample.fetch_history()).events)
    meter = stack.cpu_meter()
    meter.start()
    window_start = time.perf_counter()
    await asyncio.sleep(window)
    cpu = meter.percent()
    window_seconds = time.perf_counter() - window_start
    runs = stack.probe.since(window_start)
    health = await stack.connections.health(STREAMED)
    events_after = len((await sample.fetch_history()).events)
    result = RestingResult(orders, submit_seconds, settle, window_seconds, stack.probe.count_by_type(runs), cpu,
                           psutil.Process(os.getpid()).memory_info().rss / 2**20, health.stream_running,
                           events_after, events_after - events_before)
    result.submit_activity_p50 = _early_late(stack, started, started + submit_seconds)
    return result


def _early_late(stack: BenchStack, start: float, end: float) -> dict[str, list[float | None]]:
    """Does an activity slow down as orders pile up? p50 duration in the first and the last quarter."""
    quarter = (end - start) / 4
    out: dict[str, list[float | None]] = {}
    for kind in ("pre_trade_check", "record_order", "submit_order"):
        runs = [r for r in stack.probe.since(start, end) if r.activity_type == kind]
        early = [r.ended - r.started for r in runs if r.started < start + quarter]
        late = [r.ended - r.started for r in runs if r.started >= end - quarter]
        out[kind] = [percentile(early, 50), percentile(late, 50)]
    return out
