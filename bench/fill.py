"""Section 5: from the simulator's fill to the execution row in PostgreSQL, via the stream and via polling.

A limit order rests; at t0 the bench moves the price through its limit (the fill happens inside that
admin call); the latency ends when the worker's record activity carrying the execution returned, i.e.
the row is committed. Polled orders (a connection with no supervisor) rest `rest_seconds` first, so their
poll interval has backed off as it would for any order that waits.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from activities.models import OrderRequest
from workflows.order_workflow import MAX_POLL_SECONDS, order_workflow_id

from .stack import POLLED, STREAMED, BenchStack
from .stats import summarize

__all__ = ["FillResult", "run_fill"]

SYMBOL, PRICE, LIMIT = "MSFT", Decimal("410.20"), Decimal("400.00")
TARGET_STREAM_P50_MS = 100.0


@dataclass
class FillResult:
    stream: list[float] = field(default_factory=list)
    poll: list[float] = field(default_factory=list)
    admin_call: list[float] = field(default_factory=list)
    poll_rest_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        stream = summarize(self.stream)
        return {"stream_s": stream.as_dict(), "poll_s": summarize(self.poll).as_dict(),
                "fill_admin_call_s": summarize(self.admin_call).as_dict(),
                "poll_rest_seconds": self.poll_rest_seconds, "max_poll_interval_s": MAX_POLL_SECONDS,
                "target_stream_p50_ms": TARGET_STREAM_P50_MS,
                "meets_target": None if stream.p50 is None else stream.p50 * 1000 < TARGET_STREAM_P50_MS}


async def _rest(stack: BenchStack, client_order_id: str, connection_id: str) -> None:
    await stack.orders.submit_and_wait_for_ack(OrderRequest(
        client_order_id=client_order_id, symbol=SYMBOL, side="BUY", quantity=1, order_type="LIMIT",
        limit_price=LIMIT, connection_id=connection_id))


async def _cross(stack: BenchStack, result: FillResult) -> float:
    """Move the price through the limit; return t0 (just before the admin call that fills)."""
    t0 = time.perf_counter()
    await asyncio.to_thread(stack.sim.admin.set_price, SYMBOL, str(LIMIT - 1), 0)
    result.admin_call.append(time.perf_counter() - t0)
    return t0


async def _recorded(stack: BenchStack, client_order_id: str, timeout: float) -> float:
    workflow_id = order_workflow_id(client_order_id)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        at = stack.probe.first_execution_recorded(workflow_id)
        if at is not None:
            return at
        await asyncio.sleep(0.002)
    raise TimeoutError(f"no execution of {client_order_id} recorded within {timeout:.0f}s")


async def run_fill(stack: BenchStack, samples: int, poll_samples: int, rest_seconds: float) -> FillResult:
    result = FillResult(poll_rest_seconds=rest_seconds)
    tag = f"fill{uuid.uuid4().hex[:6]}"
    admin = stack.sim.admin
    for n in range(samples):
        await asyncio.to_thread(admin.set_price, SYMBOL, str(PRICE), 0)
        cid = f"{tag}-s{n}"
        await _rest(stack, cid, STREAMED)
        await asyncio.sleep(0.3)  # the order is idle, waiting, as a resting order is
        t0 = await _cross(stack, result)
        result.stream.append(await _recorded(stack, cid, 30) - t0)
    await asyncio.to_thread(admin.set_price, SYMBOL, str(PRICE), 0)
    cids = [f"{tag}-p{n}" for n in range(poll_samples)]
    await asyncio.gather(*(_rest(stack, cid, POLLED) for cid in cids))
    await asyncio.sleep(rest_seconds)
    t0 = await _cross(stack, result)
    for cid in cids:
        result.poll.append(await _recorded(stack, cid, MAX_POLL_SECONDS * 2 + 30) - t0)
    await asyncio.to_thread(admin.set_price, SYMBOL, str(PRICE), 0)
    return result
