"""The end of a chaos run: three views of every order (the broker's, the database's, the workflow's) compared.

The broker's view is the simulator's admin API: every order it holds, every order placement it received
(grouped per client order id) and every fill it made. Replacement orders (Alpaca's `<id>~r...`) belong to
their root client order id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.broker_integration import OrderStatus

from .load import retrying
from .stack import ChaosStack

__all__ = ["Check", "OrderViews", "Verdict", "collect", "verdict"]

_BROKER_STATUS = {"filled": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED",
                  "done_for_day": "EXPIRED"}
_TERMINAL = {s.value for s in OrderStatus if s.is_terminal}


def root(order: dict[str, Any]) -> str:
    """The client order id an order of the broker's view belongs to (Tradier's: its tag)."""
    return str(order.get("tradier_tag") or order["client_order_id"]).split("~", 1)[0]


@dataclass
class OrderViews:
    """One order as each party sees it."""

    client_order_id: str
    placements: int = 0  # order placements the broker accepted under this exact client order id
    broker_status: str | None = None  # of the live end of the replace chain
    broker_filled: Decimal = Decimal(0)
    broker_fills: int = 0
    db_status: str | None = None
    db_filled: Decimal = Decimal(0)
    db_fills: int = 0
    db_distinct_fills: int = 0
    db_submitted: bool = False
    workflow_status: str | None = None
    workflow_filled: Decimal = Decimal(0)
    workflow_error: str | None = None
    workflow_reason: str | None = None

    @property
    def refused_unstored(self) -> bool:
        """Refused before it was stored or sent (no connection, invalid): only the workflow's result has it."""
        return self.db_status is None and self.workflow_status == "REJECTED" and self.placements == 0

    def state_disagreement(self) -> str | None:
        """Why the three final states differ, or None."""
        if self.refused_unstored:
            return None
        ours = {self.db_status, self.workflow_status}
        if len(ours) != 1:
            return f"database {self.db_status} vs workflow {self.workflow_status}"
        if self.db_filled != self.workflow_filled:
            return f"filled: database {self.db_filled} vs workflow {self.workflow_filled}"
        if self.broker_status is None:  # never reached the broker: only a refusal or an early cancel
            if self.db_status in ("REJECTED", "CANCELED") and not self.db_submitted:
                return None
            return f"not at the broker, but {self.db_status}"
        if self.broker_status != self.db_status:
            return f"broker {self.broker_status} vs ours {self.db_status}"
        if self.broker_filled != self.db_filled:
            return f"filled: broker {self.broker_filled} vs ours {self.db_filled}"
        return None


async def collect(stack: ChaosStack, client_order_ids: list[str]) -> list[OrderViews]:
    """Read the three views of every order."""
    admin = stack.sim.admin
    broker: dict[str, Any] = await asyncio.to_thread(admin.orders)
    activities: list[dict[str, Any]] = await asyncio.to_thread(admin.activities)
    views = {cid: OrderViews(cid) for cid in client_order_ids}
    chain: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for order in broker["orders"]:
        chain[root(order)].append(order)
    by_broker_id = {o["id"]: root(o) for o in broker["orders"]}
    for cid, view in views.items():
        view.placements = sum(1 for s in broker["submissions"].get(cid, []) if 200 <= int(s["http_status"]) < 300)
        live = [o for o in chain.get(cid, []) if o["status"] != "replaced"]
        if live:
            last = max(live, key=lambda o: o["created_at"])
            view.broker_status = _BROKER_STATUS.get(last["status"], last["status"].upper())
        view.broker_filled = sum((Decimal(o["filled_qty"]) for o in chain.get(cid, [])), Decimal(0))
    for activity in activities:
        if activity.get("activity_type") == "FILL":
            owner = by_broker_id.get(activity["order_id"])
            if owner is not None and owner in views:
                views[owner].broker_fills += 1
    semaphore = asyncio.Semaphore(20)

    async def ours(view: OrderViews) -> None:
        async with semaphore:
            order = await stack.repos.orders.get(view.client_order_id)
            if order is not None:
                view.db_status, view.db_filled = order.status.value, order.filled_quantity
                view.db_submitted = order.broker_order_id is not None
            executions = await stack.repos.executions.list_for_order(view.client_order_id)
            view.db_fills = len(executions)
            view.db_distinct_fills = len({e.execution_id for e in executions})
            try:
                status = await retrying(lambda: stack.orders.status(view.client_order_id), "status", timeout=60)
                view.workflow_status, view.workflow_filled = status.status, status.filled_qty
                view.workflow_reason = status.reason
            except Exception as exc:  # reported as a disagreement, not raised
                view.workflow_error = f"{type(exc).__name__}: {exc}"

    await asyncio.gather(*(ours(v) for v in views.values()))
    return list(views.values())


@dataclass
class Check:
    name: str
    figure: str
    passed: bool
    detail: list[str] = field(default_factory=list)


@dataclass
class Verdict:
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def verdict(views: list[OrderViews], submit_errors: list[str], planned: int) -> Verdict:
    """The run's pass/fail lines."""
    checks = [Check("orders submitted", f"{len(views)} of {planned}", not submit_errors and len(views) == planned,
                    submit_errors[:5])]
    twice = [v for v in views if v.placements > 1]
    missing = [v for v in views if v.placements == 0 and v.db_submitted]
    at_broker = sum(1 for v in views if v.placements == 1)
    checks.append(Check("orders at the broker per client order id", f"{at_broker} once, {len(twice)} twice or more",
                        not twice and not missing,
                        [f"{v.client_order_id}: {v.placements} placements" for v in twice + missing][:10]))
    fills_broker = sum(v.broker_fills for v in views)
    fills_ours = sum(v.db_fills for v in views)
    doubled = [v for v in views if v.db_distinct_fills != v.db_fills]
    unequal = [v for v in views if v.broker_fills != v.db_fills or v.broker_filled != v.db_filled]
    checks.append(Check("fills at the broker / recorded", f"{fills_broker} / {fills_ours}, {len(doubled)} twice",
                        not doubled and not unequal,
                        [f"{v.client_order_id}: broker {v.broker_fills} fills {v.broker_filled}, ours {v.db_fills} "
                         f"fills {v.db_filled}" for v in (doubled + unequal)][:10]))
    disagree = [(v, v.workflow_error or v.state_disagreement()) for v in views]
    disagree = [(v, why) for v, why in disagree if why]
    checks.append(Check("final states that disagree", str(len(disagree)), not disagree,
                        [f"{v.client_order_id}: {why}" for v, why in disagree][:10]))
    open_ = [v for v in views if not v.refused_unstored
             and (v.db_status not in _TERMINAL or v.workflow_status not in _TERMINAL)]
    checks.append(Check("orders not terminal after the drain", str(len(open_)), not open_,
                        [f"{v.client_order_id}: database {v.db_status}, workflow {v.workflow_status}"
                         for v in open_][:10]))
    early = [v for v in views if v.db_status == "CANCELED" and v.placements == 0]
    checks.append(Check("cancelled before they reached the broker (not a failure)", str(len(early)), True))
    refused = [v for v in views if v.workflow_status == "REJECTED"]
    unstored = sum(v.refused_unstored for v in views)
    checks.append(Check("orders refused (not a failure)", f"{len(refused)}, {unstored} before they were stored", True,
                        [f"{v.client_order_id}: {v.workflow_reason}" for v in refused][:10]))
    return Verdict(checks)
