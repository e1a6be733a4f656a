"""Sections 1 and 2: our OrderWorkflow against a no-op workflow with as many activities (the price of
Temporal), and against the same orders sent straight through the adapter (the price of durability).

The three variants run in alternating rounds so that noise on the shared machine falls on all of them.
Latencies are taken from before the start to: the broker's acknowledgement (`wait_for_ack`), the
execution row committed in PostgreSQL (the record activity carrying the fill returned), and the end.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.models import OrderRequest
from brokers.registry import GatewayRegistry
from domain.broker_integration import BrokerOrder, ExecutionReport, Order, OrderStatusUpdate, TradeEvent
from domain.broker_integration.reconcile import apply_trade_event
from workflows.order_workflow import order_workflow_id

from .baseline import BaselineInput, BaselineWorkflow
from .stack import DIRECT, STREAMED, BenchStack, CpuMeter
from .stats import Ratio, Summary, cpu_ratio, percentile, ratio, ratio_rows, summarize

__all__ = ["ActivityProfile", "LatencyResult", "Variant", "run_latency"]

SYMBOL = "AAPL"
TARGET = 1.3


@dataclass
class Variant:
    """Latencies (seconds) of one way of placing orders, over every round."""

    name: str
    ack: list[float] = field(default_factory=list)
    fill: list[float] = field(default_factory=list)
    done: list[float] = field(default_factory=list)
    orders: int = 0
    busy_seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_order(self) -> dict[str, float]:
        """CPU milliseconds each process spent per order of this path."""
        return {name: 1000 * used / self.orders for name, used in self.cpu_seconds.items()} if self.orders else {}

    @property
    def throughput(self) -> float | None:
        return self.orders / self.busy_seconds if self.busy_seconds else None

    def summaries(self) -> dict[str, Summary]:
        series = {"start->ack": self.ack, "start->fill recorded": self.fill, "start->done": self.done}
        return {name: summarize(values) for name, values in series.items() if values}

    def as_dict(self) -> dict[str, Any]:
        return {"orders": self.orders, "seconds": self.busy_seconds, "orders_per_s": self.throughput,
                "latency_s": {k: v.as_dict() for k, v in self.summaries().items()},
                "cpu_ms_per_order": self.cpu_ms_per_order()}


@dataclass(frozen=True)
class ActivityProfile:
    """Our order path as the worker ran it: activity types in order, where the ack and the fill fall."""

    types: tuple[str, ...]
    ack_after: int
    fill_after: int


@dataclass
class LatencyResult:
    """Every path at every concurrency level (1 = one order at a time: latency without queueing)."""

    profile: ActivityProfile
    levels: dict[int, dict[str, Variant]]
    # per level: activity type -> p50 ms of one attempt, as the worker ran it (ours and the baseline's no-op)
    activity_ms: dict[int, dict[str, float | None]] = field(default_factory=dict)

    def temporal_ratios(self, level: int) -> list[Ratio]:
        return _ratios(self.levels[level]["ours"], self.levels[level]["baseline"], TARGET)

    def durability_ratios(self, level: int) -> list[Ratio]:
        return _ratios(self.levels[level]["ours"], self.levels[level]["direct"], None)

    def as_dict(self) -> dict[str, Any]:
        return {"activity_profile": {"types": list(self.profile.types), "ack_after": self.profile.ack_after,
                                     "fill_after": self.profile.fill_after},
                "levels": {str(level): {"concurrency": level,
                                        "variants": {k: v.as_dict() for k, v in variants.items()},
                                        "ours_vs_baseline": [r.as_dict() for r in self.temporal_ratios(level)],
                                        "ours_vs_direct": [r.as_dict() for r in self.durability_ratios(level)],
                                        # What the CPU per order allows ours/baseline to reach on shared cores.
                                        "cpu_ratio_ours_vs_baseline": cpu_ratio(
                                            variants["ours"].cpu_ms_per_order(),
                                            variants["baseline"].cpu_ms_per_order()),
                                        "activity_p50_ms": self.activity_ms.get(level, {})}
                           for level, variants in self.levels.items()}}


def _ratios(ours: Variant, reference: Variant, target: float | None) -> list[Ratio]:
    rows = [Ratio("throughput (orders/s)", ours.throughput, reference.throughput,
                  ratio(ours.throughput, reference.throughput), target, higher_is_better=True)]
    for stat in ("p50", "p99"):
        rows += ratio_rows(ours.summaries(), reference.summaries(), stat=stat, target=target)
    return rows


def _request(client_order_id: str) -> OrderRequest:
    return OrderRequest(client_order_id=client_order_id, symbol=SYMBOL, side="BUY", quantity=1,
                        connection_id=STREAMED)


class Runner:
    """Places one order a given way and returns (ack, fill recorded, done) in seconds from its start."""

    def __init__(self, stack: BenchStack, profile: ActivityProfile | None = None) -> None:
        self.stack = stack
        self.profile = profile
        self.direct: DirectPath | None = None

    async def ours(self, client_order_id: str) -> tuple[float, float | None, float]:
        t0 = time.perf_counter()
        await self.stack.orders.submit_and_wait_for_ack(_request(client_order_id))
        acked = time.perf_counter()
        await self.stack.orders.wait(client_order_id, timeout=120)
        done = time.perf_counter()
        filled = self.stack.probe.first_execution_recorded(order_workflow_id(client_order_id))
        return acked - t0, None if filled is None else filled - t0, done - t0

    async def baseline(self, client_order_id: str) -> tuple[float, float | None, float]:
        assert self.profile is not None
        workflow_id = f"baseline-{client_order_id}"
        request = BaselineInput(activities=len(self.profile.types), ack_after=self.profile.ack_after)
        start = WithStartWorkflowOperation(BaselineWorkflow.run, request, id=workflow_id,
                                           task_queue=self.stack.baseline_queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        t0 = time.perf_counter()
        await self.stack.client.execute_update_with_start_workflow(BaselineWorkflow.wait_for_ack,
                                                                   start_workflow_operation=start)
        acked = time.perf_counter()
        await (await start.workflow_handle()).result()
        done = time.perf_counter()
        runs = sorted(self.stack.probe.for_workflow(workflow_id), key=lambda r: r.ended)
        fill_at = self.profile.fill_after
        filled = runs[fill_at - 1].ended - t0 if 0 < fill_at <= len(runs) else None
        return acked - t0, filled, done - t0

    async def direct_order(self, client_order_id: str) -> tuple[float, float | None, float]:
        assert self.direct is not None
        return await self.direct.place(client_order_id)


class DirectPath:
    """The same order straight through the Alpaca adapter, recorded the same way, with no Temporal at all."""

    def __init__(self, stack: BenchStack) -> None:
        self.repos = stack.repos
        self.registry = GatewayRegistry(credentials=stack.repos.connections.get_credentials)
        self.waiting: dict[str, asyncio.Future[TradeEvent]] = {}
        self.listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        connection = await self.repos.connections.get(DIRECT)
        assert connection is not None
        self.gateway = self.registry.gateway_for(connection)
        await self.gateway.get_account()  # logs in
        self.listener = asyncio.create_task(self._listen())
        await asyncio.sleep(1.0)  # let the websocket authenticate and subscribe

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            await asyncio.gather(self.listener, return_exceptions=True)
        await self.registry.aclose()

    async def _listen(self) -> None:
        async for event in self.gateway.trade_updates():
            waiter = self.waiting.get(event.order.client_order_id)
            if event.execution is not None and waiter is not None and not waiter.done():
                waiter.set_result(event)

    async def _record(self, order: Order, updates: list[OrderStatusUpdate | None],
                      executions: list[ExecutionReport] | None = None) -> None:
        for report in executions or []:
            await self.repos.executions.add(report)
        for update in updates:
            if update is not None:
                await self.repos.statuses.append(update)
        await self.repos.orders.save(order)

    async def place(self, client_order_id: str) -> tuple[float, float | None, float]:
        t0 = time.perf_counter()
        broker_order = BrokerOrder(client_order_id=client_order_id, symbol=SYMBOL, side="BUY", quantity=1,
                                   connection_id=DIRECT)
        order = Order.create(broker_order, _now())
        await self.gateway.get_account()  # what the pre-trade check asks the broker
        await self.gateway.latest_price(SYMBOL)
        await self._record(order, [order.submit(_now())])
        waiter: asyncio.Future[TradeEvent] = asyncio.get_running_loop().create_future()
        self.waiting[client_order_id] = waiter
        snapshot = await self.gateway.submit_order(broker_order)
        acked = time.perf_counter()
        await self._record(order, [order.accept(snapshot.broker_order_id, _now(), snapshot.submitted_at)])
        event = await asyncio.wait_for(waiter, 60)
        del self.waiting[client_order_id]
        updates, applied = apply_trade_event(order, event)
        assert event.execution is not None
        await self._record(order, list(updates), [event.execution] if applied else [])
        filled = time.perf_counter() - t0
        return acked - t0, filled, filled


def _now() -> datetime:
    return datetime.now(UTC)


async def _batch(variant: Variant, place: Callable[[str], Awaitable[tuple[float, float | None, float]]],
                 count: int, concurrency: int, tag: str, meter: CpuMeter | None = None) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            ack, fill, done = await place(f"{tag}-{n}")
        variant.ack.append(ack)
        if fill is not None:
            variant.fill.append(fill)
        variant.done.append(done)

    if meter is not None:
        meter.start()
    start = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    variant.busy_seconds += time.perf_counter() - start
    variant.orders += count
    if meter is not None:
        for name, used in meter.seconds().items():
            variant.cpu_seconds[name] = variant.cpu_seconds.get(name, 0.0) + used


async def measure_profile(stack: BenchStack, runner: Runner, tag: str) -> ActivityProfile:
    """Run one order of ours and read its activity sequence (the baseline copies it)."""
    client_order_id = f"{tag}-profile"
    await runner.ours(client_order_id)
    runs = sorted(stack.probe.for_workflow(order_workflow_id(client_order_id)), key=lambda r: r.started)
    types = tuple(r.activity_type for r in runs)
    ack_after = types.index("submit_order") + 1 if "submit_order" in types else len(types)
    fill_after = next((i + 1 for i, r in enumerate(runs) if r.executions), len(types))
    return ActivityProfile(types, ack_after, fill_after)


def _activity_ms(stack: BenchStack, marker: str) -> dict[str, float | None]:
    """p50 milliseconds per activity type, over the workflows whose id carries `marker`."""
    durations: dict[str, list[float]] = {}
    for run in stack.probe.runs:
        if marker in run.workflow_id:
            durations.setdefault(run.activity_type, []).append(1000 * (run.ended - run.started))
    return {kind: percentile(values, 50) for kind, values in sorted(durations.items())}


async def run_latency(stack: BenchStack, levels: list[tuple[int, int]], rounds: int = 2, warmup: int = 3,
                      between: Callable[[str], Awaitable[None]] | None = None) -> LatencyResult:
    """Warm up and learn our activity profile; then per (concurrency, orders) level, alternate
    baseline / ours / direct for `rounds` rounds."""
    tag = f"lat{uuid.uuid4().hex[:6]}"
    runner = Runner(stack)
    runner.profile = await measure_profile(stack, runner, tag)
    runner.direct = DirectPath(stack)
    await runner.direct.start()
    places = {"baseline": runner.baseline, "ours": runner.ours, "direct": runner.direct_order}
    result = LatencyResult(runner.profile, {})
    try:
        for name, place in places.items():  # warm-up, not counted
            await _batch(Variant(name), place, warmup, stack.concurrency, f"{tag}-warm-{name}")
        for concurrency, orders in levels:
            variants = result.levels[concurrency] = {name: Variant(name) for name in places}
            per_round = max(orders // rounds, 1)
            for r in range(rounds):
                for name, place in places.items():
                    if between is not None:
                        await between(f"{concurrency} in flight, round {r + 1}/{rounds}: {name}")
                    await _batch(variants[name], place, per_round, concurrency, f"{tag}-c{concurrency}-{r}-{name}",
                                 stack.cpu_meter())
            result.activity_ms[concurrency] = _activity_ms(stack, f"{tag}-c{concurrency}-")
    finally:
        await runner.direct.stop()
    return result
