"""The faults of a chaos run: each kind at least once on a fixed schedule, more at random, from one seed.

Broker faults go through the simulator's admin API (5xx answers, 429 bursts, ambiguous submits whose
answer is lost after the broker took the order, added latency, stream drops with fills during the gap,
token expiry); process faults hit the stack (SIGKILL of a worker, restart of the Temporal dev server,
restart of PostgreSQL). One fault at a time, each mended before the next.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from .stack import ChaosStack

__all__ = ["BROKER_KINDS", "FAULT_KINDS", "Fault", "Injector", "plan_faults"]

BROKER_KINDS = ("5xx", "429 burst", "ambiguous submit", "latency", "stream drop", "token expiry")
PROCESS_KINDS = ("worker SIGKILL", "temporal restart", "postgres restart")
FAULT_KINDS = BROKER_KINDS + PROCESS_KINDS


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the load starts
    kind: str
    scheduled: bool


def plan_faults(rng: random.Random, duration: float, random_extra: int, kinds: tuple[str, ...] = FAULT_KINDS
                ) -> list[Fault]:
    """Each kind once, evenly over the first 85% of the load, then `random_extra` broker faults at random."""
    order = list(kinds)
    rng.shuffle(order)
    window = duration * 0.85
    faults = [Fault(window * (i + 0.5) / len(order), kind, True) for i, kind in enumerate(order)]
    broker = [k for k in kinds if k in BROKER_KINDS and k != "token expiry"]
    faults += [Fault(rng.uniform(0, window), rng.choice(broker), False) for _ in range(random_extra if broker else 0)]
    return sorted(faults, key=lambda f: f.at)


@dataclass
class Injector:
    """Applies the planned faults in order (one at a time) and counts what it injected."""

    stack: ChaosStack
    rng: random.Random
    injected: Counter[str] = field(default_factory=Counter)
    log: list[str] = field(default_factory=list)

    async def run(self, faults: list[Fault], say: object = print) -> None:
        started = time.monotonic()
        for fault in faults:
            await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
            t0 = time.monotonic()
            detail = await self.inject(fault.kind)
            line = (f"{time.monotonic() - started:6.1f}s {fault.kind:<17} {detail} "
                    f"({'scheduled' if fault.scheduled else 'random'}; {time.monotonic() - t0:.1f}s)")
            self.log.append(line)
            if callable(say):
                say(line)

    async def inject(self, kind: str) -> str:
        admin = self.stack.sim.admin
        rng = self.rng
        detail = ""
        if kind == "5xx":
            status, seconds = rng.choice([500, 502, 503, 504]), rng.uniform(2, 4)
            await asyncio.to_thread(admin.set_faults, error_rate=0.5, error_status=status, error_match="")
            await asyncio.sleep(seconds)
            await asyncio.to_thread(admin.set_faults, error_rate=0)
            detail = f"half of all API calls answer {status} for {seconds:.1f}s"
        elif kind == "429 burst":
            count = rng.randint(3, 10)
            await asyncio.to_thread(admin.set_faults, burst_429=count)
            detail = f"the next {count} calls answer 429"
        elif kind == "ambiguous submit":
            count, rule = rng.randint(1, 3), rng.choice(["POST /v2/orders", "POST /v1/accounts/"])
            await asyncio.to_thread(admin.set_faults, drop_responses=count, drop_mode="close", drop_match=rule)
            detail = f"the next {count} `{rule}` are taken, then the connection closes unanswered"
        elif kind == "latency":
            ms, seconds = rng.choice([200, 500, 1500]), rng.uniform(3, 6)
            await asyncio.to_thread(admin.set_faults, latency_ms=ms)
            await asyncio.sleep(seconds)
            await asyncio.to_thread(admin.set_faults, latency_ms=0)
            detail = f"+{ms} ms on every call for {seconds:.1f}s"
        elif kind == "stream drop":
            seconds = rng.uniform(2, 5)
            await asyncio.to_thread(admin.disconnect_streams, seconds)
            await asyncio.sleep(seconds)
            detail = f"every stream closed, reconnects refused for {seconds:.1f}s (orders fill meanwhile)"
        elif kind == "token expiry":
            detail = await self.stack.expire_token()
        elif kind == "worker SIGKILL":
            index = rng.randrange(len(self.stack.workers))
            await self.stack.kill_worker(index)
            detail = f"worker {index} killed with SIGKILL and started again"
        elif kind == "temporal restart":
            await self.stack.restart_temporal()
            detail = "dev server stopped and started again on its file"
        elif kind == "postgres restart":
            await self.stack.restart_postgres()
            detail = "PostgreSQL stopped (fast: sessions cut) and started again"
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.injected[kind] += 1
        return detail
