"""The orders of a chaos run: every type, both connections, three accounts, from one seed.

The run moves prices itself (a pinned random walk in cent steps), so stops trigger and resting limits
stay resting; resting orders are amended now and then and cancelled after a while, so every order has a
reason to end and the drain can demand that all of them do.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.models import AmendRequest, OrderRequest
from brokers.registry import capabilities_of
from domain.broker_integration import OrderType, TimeInForce
from starter.orders import OrderChangeRejectedError, OrderClient, OrderNotFoundError

from .stack import SYMBOLS, TRADIER, Account, ChaosStack

__all__ = ["KINDS", "Load", "OrderPlan", "PriceWalk", "plan_orders"]

T = TypeVar("T")
CENT = Decimal("0.01")
# kind -> weight; "resting" limits are cancelled (some amended first), stops may or may not trigger.
KINDS = {"market": 30, "marketable_limit": 15, "ioc_limit": 10, "resting_limit": 15, "stop": 10,
         "stop_limit": 10, "trailing_stop": 10}


@dataclass(frozen=True)
class OrderPlan:
    """One order of the run and what the driver will do to it."""

    index: int
    kind: str
    account: Account
    symbol: str
    side: str
    quantity: int
    cancel_after: float | None  # seconds after submission, or None
    amend: bool

    @property
    def client_order_id(self) -> str:
        return f"chaos-{self.index:05d}"

    def request(self, price: Decimal) -> OrderRequest:
        buy = self.side == "BUY"
        sign = Decimal(1) if buy else Decimal(-1)
        fields: dict[str, Any] = {"time_in_force": "DAY"}
        if self.kind == "marketable_limit":
            fields |= {"order_type": "LIMIT", "limit_price": price + sign}
        elif self.kind == "ioc_limit":
            fields |= {"order_type": "LIMIT", "limit_price": price + sign * Decimal("0.05"), "time_in_force": "IOC"}
        elif self.kind == "resting_limit":
            fields |= {"order_type": "LIMIT", "limit_price": price - sign * 5, "time_in_force": "GTC"}
        elif self.kind == "stop":
            fields |= {"order_type": "STOP", "stop_price": price + sign * Decimal("0.20")}
        elif self.kind == "stop_limit":
            stop = price + sign * Decimal("0.20")
            fields |= {"order_type": "STOP_LIMIT", "stop_price": stop, "limit_price": stop + sign * Decimal("0.50")}
        elif self.kind == "trailing_stop":
            fields |= {"order_type": "TRAILING_STOP", "trail_price": Decimal("0.20")}
        return OrderRequest(client_order_id=self.client_order_id, symbol=self.symbol, side=self.side,
                            quantity=Decimal(self.quantity), connection_id=self.account.connection_id,
                            account_id=self.account.account_id, poll_interval_seconds=5,
                            # A connection may be down for a while (token refresh, restarts): the order waits.
                            session_wait_seconds=180, **fields)


def _supported(kind: str, connection_id: str) -> bool:
    caps = capabilities_of("tradier" if connection_id == TRADIER else "alpaca")
    needs = {"trailing_stop": OrderType.TRAILING_STOP, "stop_limit": OrderType.STOP_LIMIT}
    if kind in needs and needs[kind] not in caps.order_types:
        return False
    return not (kind == "ioc_limit" and TimeInForce.IOC not in caps.time_in_force)


def plan_orders(rng: random.Random, count: int, accounts: list[Account]) -> list[OrderPlan]:
    """`count` orders: kinds by weight (a kind a connection lacks goes to the other connection)."""
    plans = []
    kinds, weights = list(KINDS), list(KINDS.values())
    for index in range(count):
        kind = rng.choices(kinds, weights)[0]
        candidates = [a for a in accounts if _supported(kind, a.connection_id)]
        account = rng.choice(candidates)
        resting = kind in ("resting_limit", "stop", "stop_limit", "trailing_stop")
        cancel_after = rng.uniform(2, 12) if kind == "resting_limit" else (rng.uniform(5, 20) if resting else None)
        plans.append(OrderPlan(index, kind, account, rng.choice(list(SYMBOLS)), rng.choice(["BUY", "SELL"]),
                               rng.randint(1, 20), cancel_after, kind == "resting_limit" and rng.random() < 0.3))
    return plans


class PriceWalk:
    """Pinned prices (volatility 0) moved in cent steps: fills at known prices, stops that trigger."""

    def __init__(self, stack: ChaosStack, rng: random.Random) -> None:
        self.stack, self.rng = stack, rng
        self.prices = {symbol: Decimal(price) for symbol, price in SYMBOLS.items()}
        self.base = dict(self.prices)

    async def run(self, stop: asyncio.Event, every: float = 0.5) -> None:
        while not stop.is_set():
            for symbol, price in self.prices.items():
                step = Decimal(self.rng.choice([-10, -5, 0, 5, 10])) * CENT
                new = min(max(price + step, self.base[symbol] - 3), self.base[symbol] + 3)
                self.prices[symbol] = new
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.stack.sim.admin.set_price, symbol, str(new), 0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


async def retrying(action: Callable[[], Awaitable[T]], what: str, timeout: float = 120.0,
                   attempt_timeout: float = 30.0) -> T:
    """Call through a Temporal restart: retry transport errors until `timeout`."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            # A call can hang on a channel to a server that restarted: give each attempt its own limit.
            return await asyncio.wait_for(action(), attempt_timeout)
        # NOT_FOUND for an order we started: the server answered while it was still starting up.
        except (RPCError, ConnectionError, OSError, RuntimeError, OrderNotFoundError, TimeoutError,
                WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
            if isinstance(exc, OrderChangeRejectedError) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)
        except Exception as exc:  # the SDK wraps some transport failures
            if "transport" not in str(exc).lower() and "connect" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: {exc}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 3.0)


@dataclass
class Load:
    """Submits the planned orders at a steady rate and works the resting ones (amend, then cancel)."""

    stack: ChaosStack
    walk: PriceWalk
    rate: float
    submitted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cancels_sent: int = 0
    amends_sent: int = 0

    async def run(self, plans: list[OrderPlan]) -> None:
        tasks = []
        started = time.monotonic()
        for n, plan in enumerate(plans):
            await asyncio.sleep(max(0.0, started + n / self.rate - time.monotonic()))
            tasks.append(asyncio.create_task(self._one(plan)))
        await asyncio.gather(*tasks)

    async def _one(self, plan: OrderPlan) -> None:
        orders: OrderClient = self.stack.orders
        request = plan.request(self.walk.prices[plan.symbol])
        try:
            await retrying(lambda: orders.submit(request), f"submit {plan.client_order_id}")
        except Exception as exc:
            self.errors.append(f"{plan.client_order_id} submit: {type(exc).__name__}: {exc}")
            return
        self.submitted.append(plan.client_order_id)
        if plan.cancel_after is None:
            return
        if plan.amend:
            await asyncio.sleep(plan.cancel_after / 2)
            price = request.limit_price - (CENT * 10 if plan.side == "BUY" else -CENT * 10)  # type: ignore[operator]
            self.amends_sent += 1
            with contextlib.suppress(OrderChangeRejectedError):
                await self._change(plan.client_order_id, lambda: orders.amend(
                    plan.client_order_id, AmendRequest(limit_price=price), update_id=f"amend-{plan.client_order_id}"))
            await asyncio.sleep(plan.cancel_after / 2)
        else:
            await asyncio.sleep(plan.cancel_after)
        await self.cancel(plan.client_order_id)

    async def cancel(self, client_order_id: str) -> None:
        self.cancels_sent += 1
        with contextlib.suppress(OrderChangeRejectedError):
            await self._change(client_order_id, lambda: self.stack.orders.cancel(
                client_order_id, "chaos driver", update_id=f"cancel-{client_order_id}"))

    async def _change(self, client_order_id: str, action: Callable[[], Awaitable[Any]]) -> None:
        # A change waits for what the order is doing (a submission retried while its connection is down).
        try:
            await retrying(action, "change", timeout=300.0)
        except OrderChangeRejectedError:
            raise
        except Exception as exc:
            self.errors.append(f"{client_order_id} change: {type(exc).__name__}: {exc}")
