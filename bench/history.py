"""Section 4: history events per order, for a simple filled market order and for an order with ten
fills and an amend (a resting limit order amended to a marketable price, filled ten shares a tick).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio.api.enums.v1 import EventType

from activities.models import AmendRequest, OrderRequest
from workflows.order_workflow import order_workflow_id

from .stack import STREAMED, BenchStack

__all__ = ["HistoryCount", "run_history"]

TARGET_SIMPLE = 25
PARTIAL_SYMBOL, PARTIAL_PRICE, FILLS = "QQQ", Decimal("440.10"), 10


@dataclass
class HistoryCount:
    label: str
    events: int
    executions: int
    status: str
    by_type: dict[str, int]
    activities: dict[str, int]
    target: int | None = None
    payload_bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__ | {"meets_target": None if self.target is None else self.events <= self.target}


async def _count(stack: BenchStack, client_order_id: str, label: str, target: int | None) -> HistoryCount:
    outcome = await stack.orders.wait(client_order_id, timeout=120)
    handle = stack.client.get_workflow_handle(order_workflow_id(client_order_id))
    history = await handle.fetch_history()
    kinds = Counter(EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events)
    activities = Counter(e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
                         if e.HasField("activity_task_scheduled_event_attributes"))
    return HistoryCount(label, len(history.events), outcome.executions, outcome.view.status,
                        dict(kinds.most_common()), dict(activities.most_common()), target,
                        sum(e.ByteSize() for e in history.events))


async def _simple(stack: BenchStack, tag: str) -> HistoryCount:
    cid = f"{tag}-market"
    await stack.orders.submit_and_wait_for_ack(OrderRequest(client_order_id=cid, symbol="AAPL", side="BUY",
                                                            quantity=1, connection_id=STREAMED))
    return await _count(stack, cid, "market order, 1 fill", TARGET_SIMPLE)


async def _partials_and_amend(stack: BenchStack, tag: str) -> HistoryCount:
    admin = stack.sim.admin
    await asyncio.to_thread(admin.set_price, PARTIAL_SYMBOL, str(PARTIAL_PRICE), 0)
    await asyncio.to_thread(admin.set_liquidity, PARTIAL_SYMBOL, 10)
    cid = f"{tag}-partials"
    try:
        await stack.orders.submit_and_wait_for_ack(OrderRequest(
            client_order_id=cid, symbol=PARTIAL_SYMBOL, side="BUY", quantity=10 * FILLS, order_type="LIMIT",
            limit_price=PARTIAL_PRICE - 40, connection_id=STREAMED))
        await asyncio.sleep(1.0)
        await stack.orders.amend(cid, AmendRequest(limit_price=PARTIAL_PRICE + 10), update_id=f"{cid}-amend")
        return await _count(stack, cid, f"limit order, amend + {FILLS} fills", None)
    finally:
        await asyncio.to_thread(admin.set_liquidity, PARTIAL_SYMBOL, None)


async def run_history(stack: BenchStack) -> list[HistoryCount]:
    tag = f"hist{uuid.uuid4().hex[:6]}"
    return [await _simple(stack, tag), await _partials_and_amend(stack, tag)]
