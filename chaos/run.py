"""One chaos run: bring the stack up, push the orders while faults hit it, drain, compare the three views."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from domain.broker_integration import OrderStatus

from .faults import FAULT_KINDS, Injector, plan_faults
from .load import Load, PriceWalk, plan_orders
from .stack import ChaosStack, chaos_stack
from .verify import Verdict, collect, verdict

__all__ = ["ChaosOptions", "ChaosResult", "run_chaos"]


@dataclass(frozen=True)
class ChaosOptions:
    orders: int = 500
    seed: int | None = None
    rate: float = 5.0  # orders started per second
    workers: int = 2
    random_faults: int | None = None  # broker faults at random on top of the schedule; default orders // 40
    kinds: tuple[str, ...] = FAULT_KINDS
    drain_timeout: float = 240.0
    keep: bool = False
    report: Path | None = None


@dataclass
class ChaosResult:
    seed: int
    verdict: Verdict
    faults: dict[str, int]
    seconds: dict[str, float]
    fault_log: list[str]

    @property
    def passed(self) -> bool:
        return self.verdict.passed and all(self.faults.get(k, 0) > 0 for k in self.faults)


async def run_chaos(options: ChaosOptions, console: Console | None = None) -> ChaosResult:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, 140)  # logs and CI: lines whole, tables unwrapped
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1, 2**31)
    console.print(f"[bold]chaos[/] seed {seed}: {options.orders} orders at {options.rate:g}/s over two connections, "
                  f"{options.workers} worker processes (repeat with --seed {seed})")
    rng = random.Random(seed)
    seconds: dict[str, float] = {}
    t0 = time.monotonic()
    async with chaos_stack(seed=seed, workers=options.workers, keep=options.keep) as stack:
        seconds["stack up"] = time.monotonic() - t0
        kinds = options.kinds if stack.token_refresh else tuple(k for k in options.kinds if k != "token expiry")
        if kinds != options.kinds:
            console.print("[yellow]token expiry not injected: the simulator issues no refresh tokens[/]")
        plans = plan_orders(rng, options.orders, stack.accounts)
        duration = options.orders / options.rate
        extra = options.random_faults if options.random_faults is not None else options.orders // 40
        faults = plan_faults(random.Random(rng.random()), duration, extra, kinds)
        walk = PriceWalk(stack, random.Random(rng.random()))
        injector = Injector(stack, random.Random(rng.random()))
        load = Load(stack, walk, options.rate)
        stop_walk = asyncio.Event()
        walker = asyncio.create_task(walk.run(stop_walk))
        t1 = time.monotonic()
        try:
            await asyncio.gather(load.run(plans), injector.run(faults, say=lambda line: console.print(f"  {line}")))
            seconds["load and faults"] = time.monotonic() - t1
            console.print(f"load done: {len(load.submitted)} orders started in {seconds['load and faults']:.0f}s; "
                          "faults cleared, draining")
            await asyncio.to_thread(stack.sim.admin.clear_faults)
            t2 = time.monotonic()
            await _drain(stack, load, options.drain_timeout, console)
            seconds["drain"] = time.monotonic() - t2
        finally:
            stop_walk.set()
            await walker
        t3 = time.monotonic()
        views = await collect(stack, load.submitted)
        seconds["verify"] = time.monotonic() - t3
        result = ChaosResult(seed, verdict(views, load.errors, options.orders),
                             {k: injector.injected.get(k, 0) for k in kinds}, seconds, injector.log)
        _print(console, result, load, stack)
        if options.report is not None:
            _write_report(options.report, result, views)
    seconds["total"] = time.monotonic() - t0
    console.print(f"total {seconds['total']:.0f}s " + ("[green]PASSED[/]" if result.passed else "[red]FAILED[/]"))
    return result


async def _drain(stack: ChaosStack, load: Load, timeout: float, console: Console) -> None:
    """Wait for every order to end; after a grace period cancel what still rests (stops never triggered)."""
    deadline = time.monotonic() + timeout
    semaphore = asyncio.Semaphore(20)
    grace = time.monotonic() + 15

    async def until_done(cid: str) -> None:
        cancelled = False
        while time.monotonic() < deadline:
            async with semaphore:
                with contextlib.suppress(Exception):
                    if OrderStatus((await asyncio.wait_for(stack.orders.status(cid), 15)).status).is_terminal:
                        return
            if not cancelled and time.monotonic() > grace:
                cancelled = True
                await load.cancel(cid)
            await asyncio.sleep(1.0)

    async def progress() -> None:
        while True:
            await asyncio.sleep(15)
            console.print(f"  draining: {sum(1 for t in waits if not t.done())} orders still open")

    waits = [asyncio.create_task(until_done(cid)) for cid in load.submitted]
    reporter = asyncio.create_task(progress())
    try:
        await asyncio.gather(*waits)
    finally:
        reporter.cancel()
    console.print(f"drained: {load.cancels_sent} cancels and {load.amends_sent} amends sent in all")


def _print(console: Console, result: ChaosResult, load: Load, stack: ChaosStack) -> None:
    faults = Table(title=f"faults injected (seed {result.seed})")
    faults.add_column("kind")
    faults.add_column("count", justify="right")
    for kind, count in result.faults.items():
        faults.add_row(kind, str(count) if count else "[red]0[/]")
    console.print(faults)
    table = Table(title="three views: broker, database, workflows")
    for column in ("check", "figure", "result"):
        table.add_column(column)
    for check in result.verdict.checks:
        table.add_row(check.name, check.figure, "[green]ok[/]" if check.passed else "[red]FAIL[/]")
    console.print(table)
    for check in result.verdict.checks:
        for line in check.detail:
            console.print(f"  [red]{check.name}[/]: {line}")
    restarts = {f"worker {w.index}": w.starts for w in stack.workers}
    console.print("phases " + ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
                  + "; worker starts " + ", ".join(f"{k}: {v}" for k, v in restarts.items()))


def _write_report(path: Path, result: ChaosResult, views: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"seed": result.seed, "passed": result.passed, "faults": result.faults, "seconds": result.seconds,
            "fault_log": result.fault_log,
            "checks": [asdict(c) for c in result.verdict.checks],
            "orders": [{k: str(v) if v is not None else None for k, v in asdict(view).items()} for view in views]}
    path.write_text(json.dumps(data, indent=2))


def main_with(options: ChaosOptions, say: Callable[[str], None] | None = None) -> int:
    result = asyncio.run(run_chaos(options))
    return 0 if result.passed else 1
