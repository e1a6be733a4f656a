"""`python -m bench` / `make bench`: what durability costs, measured against the limits in one run.

Figures are ratios taken side by side in one run (the machines are shared and noisy); absolute times
are printed for reference only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .report import console, print_results, write_json, write_plot

__all__ = ["SECTIONS", "main", "parse_args"]

SECTIONS = ("latency", "history", "fill", "resting")
DEFAULT_DIR = Path(".brokerflow/bench")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=40, help="orders per path in the latency section (40)")
    parser.add_argument("--concurrency", type=int, default=10, help="orders in flight per path (10)")
    parser.add_argument("--serial", type=int, default=10,
                        help="orders per path sent one at a time, for latency without queueing (10; 0 skips)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds baseline/ours/direct (2)")
    parser.add_argument("--resting", type=int, default=200, help="resting limit orders (200; try 1000 or 10000)")
    parser.add_argument("--settle", type=float, default=70.0,
                        help="seconds resting orders wait before the idle window, so polls back off (70)")
    parser.add_argument("--window", type=float, default=60.0, help="idle window in seconds (60)")
    parser.add_argument("--fill-samples", type=int, default=10, help="stream fill-to-record samples (10)")
    parser.add_argument("--poll-samples", type=int, default=3, help="polling fill-to-record samples (3)")
    parser.add_argument("--poll-rest", type=float, default=10.0, help="seconds polled orders rest first (10)")
    parser.add_argument("--section", action="append", choices=[*SECTIONS, "all"],
                        help="run only this section (repeatable); default all")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the worker process during the latency section (needs the bench extra)")
    parser.add_argument("--plot", action="store_true", help="write a PNG of the latencies (needs matplotlib)")
    parser.add_argument("--json", type=Path, default=None, help=f"results file (default {DEFAULT_DIR}/bench-*.json)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway stack's data dir")
    args = parser.parse_args(argv)
    chosen = args.section or ["all"]
    args.sections = list(SECTIONS) if "all" in chosen else [s for s in SECTIONS if s in chosen]
    return args


def _say(message: str) -> None:
    console.print(f"[dim]{datetime.now(UTC):%H:%M:%S}[/] {message}")


async def _run(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    from .stack import bench_stack

    results: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "machine": _machine(),
                               "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    _say("starting the stack: Temporal dev server (SQLite WAL), embedded PostgreSQL, simulator, workers")
    async with bench_stack(concurrency=args.concurrency, keep=args.keep) as stack:
        _say(f"stack up (Temporal {stack.info.temporal_address}, simulator {stack.sim.base_url}); stream running")
        for section in args.sections:
            began = time.perf_counter()
            _say(f"section {section}")
            await _SECTION_RUNNERS[section](stack, args, results, stamp)
            results.setdefault("section_seconds", {})[section] = round(time.perf_counter() - began, 1)
    return results


async def _latency(stack: Any, args: argparse.Namespace, results: dict[str, Any], stamp: str) -> None:
    from .latency import run_latency
    from .profile import py_spy, summarize_collapsed

    async def progress(label: str) -> None:
        _say(f"  {label}")

    raw = (args.json or DEFAULT_DIR / f"bench-{stamp}.json").with_suffix(".pyspy.txt") if args.profile else None
    with py_spy(raw) as recorded:
        levels = [(1, args.serial)] if args.serial else []
        result = await run_latency(stack, [*levels, (args.concurrency, args.orders)], rounds=args.rounds,
                                   between=progress)
    results["_latency"], results["latency"] = result, result.as_dict()
    if recorded is not None and recorded.exists():
        results["profile"] = summarize_collapsed(recorded.read_text().splitlines()).as_dict()
        results["profile"]["raw"] = str(recorded)


async def _history(stack: Any, args: argparse.Namespace, results: dict[str, Any], stamp: str) -> None:
    from .history import run_history

    results["history"] = [h.as_dict() for h in await run_history(stack)]


async def _fill(stack: Any, args: argparse.Namespace, results: dict[str, Any], stamp: str) -> None:
    from .fill import run_fill

    results["fill"] = (await run_fill(stack, args.fill_samples, args.poll_samples, args.poll_rest)).as_dict()


async def _resting(stack: Any, args: argparse.Namespace, results: dict[str, Any], stamp: str) -> None:
    from .resting import run_resting

    result = await run_resting(stack, args.resting, args.settle, args.window, say=_say)
    results["resting"] = result.as_dict()


_SECTION_RUNNERS = {"latency": _latency, "history": _history, "fill": _fill, "resting": _resting}


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version(),
            "platform": platform.platform()}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = asyncio.run(_run(args, stamp))
    results["machine"]["load_avg_end"] = os.getloadavg()
    print_results(results)
    path = args.json or DEFAULT_DIR / f"bench-{stamp}.json"
    write_json(results, path)
    if args.json is None:
        write_json(results, DEFAULT_DIR / "latest.json")
    console.print(f"results: {path}")
    if args.plot and write_plot(results, path.with_suffix(".png")):
        console.print(f"plot: {path.with_suffix('.png')}")
