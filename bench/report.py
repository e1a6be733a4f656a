"""Printing (rich tables), the JSON file and the optional plot of one bench run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .stats import Ratio

__all__ = ["console", "fmt_ms", "print_results", "ratio_table", "write_json", "write_plot"]

console = Console(width=None if Console().is_terminal else 150)


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _met(flag: bool | None) -> str:
    return "" if flag is None else ("[green]yes[/]" if flag else "[red]no[/]")


def ratio_table(title: str, rows: list[Ratio], reference: str) -> Table:
    """A table of ours / reference ratios (latencies in ms, throughput in orders/s)."""
    table = Table(title=title)
    for column in ("metric", "ours", reference, "ratio", "target", "met"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows:
        per_second = row.higher_is_better
        value = (lambda v: _num(v, 1)) if per_second else fmt_ms
        target = "-" if row.target is None else (f">= 1/{row.target}" if per_second else f"<= {row.target}")
        table.add_row(row.metric + ("" if per_second else " (ms)"), value(row.ours), value(row.reference),
                      _num(row.ratio), target, _met(row.meets_target))
    return table


def _variants_table(latency: dict[str, Any], level: dict[str, Any]) -> Table:
    table = Table(title=f"order paths, {level['concurrency']} in flight (latencies in ms)")
    columns = ("path", "orders", "orders/s", "ack p50", "ack p99", "fill rec. p50", "fill rec. p99", "done p50",
               "done p99")
    for column in columns:
        table.add_column(column, justify="left" if column == "path" else "right")
    for name, variant in level["variants"].items():
        lat = variant["latency_s"]

        def cell(series: str, stat: str, lat: dict[str, Any] = lat) -> str:
            return fmt_ms(lat.get(series, {}).get(stat))

        table.add_row(name, str(variant["orders"]), _num(variant["orders_per_s"], 1),
                      cell("start->ack", "p50"), cell("start->ack", "p99"),
                      cell("start->fill recorded", "p50"), cell("start->fill recorded", "p99"),
                      cell("start->done", "p50"), cell("start->done", "p99"))
    profile = latency["activity_profile"]
    table.caption = (f"our order path: {len(profile['types'])} activities ({', '.join(profile['types'])}); "
                     f"ack after #{profile['ack_after']}, fill recorded by #{profile['fill_after']}")
    return table


def _activity_table(level: dict[str, Any]) -> Table:
    table = Table(title=f"activity attempt p50 (ms), {level['concurrency']} in flight")
    table.add_column("activity")
    table.add_column("p50 ms", justify="right")
    for kind, ms in level.get("activity_p50_ms", {}).items():
        table.add_row(kind, _num(ms, 1))
    return table


def _cpu_table(level: dict[str, Any]) -> Table:
    table = Table(title=f"CPU ms per order by process, {level['concurrency']} in flight")
    variants = level["variants"]
    names = list(next(iter(variants.values()))["cpu_ms_per_order"])
    table.add_column("path")
    for name in [*names, "total"]:
        table.add_column(name, justify="right")
    for path, variant in variants.items():
        cpu = variant["cpu_ms_per_order"]
        table.add_row(path, *[_num(cpu.get(n), 1) for n in names], _num(sum(cpu.values()), 1))
    allowed = level.get("cpu_ratio_ours_vs_baseline")
    if allowed is not None:
        # Every process shares the machine's cores: with all of them busy, orders/s follows CPU per order.
        table.caption = (f"baseline total / ours total = {allowed:.2f}: the throughput ratio the CPU per order "
                         "allows when the stack shares the cores and is busy")
    return table


def _history_table(history: list[dict[str, Any]]) -> Table:
    table = Table(title="history events per order")
    for column in ("order", "status", "fills", "events", "target", "KiB", "activities", "largest event types"):
        table.add_column(column, justify="right" if column in ("fills", "events", "target", "KiB") else "left")
    for row in history:
        kinds = ", ".join(f"{k.lower()} {v}" for k, v in list(row["by_type"].items())[:6])
        acts = ", ".join(f"{k} {v}" for k, v in row["activities"].items())
        table.add_row(row["label"], row["status"], str(row["executions"]), str(row["events"]),
                      "-" if row["target"] is None else f"<= {row['target']}", _num(row["payload_bytes"] / 1024, 1),
                      acts, kinds)
    return table


def _resting_table(resting: dict[str, Any]) -> Table:
    table = Table(title=f"{resting['orders']} resting orders, idle window of {resting['window_seconds']:.0f}s "
                        f"(after {resting['settle_seconds']:.0f}s settling)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("orders acknowledged per s while submitting", _num(resting["submit_orders_per_s"], 1))
    for kind, (early, late) in resting.get("submit_activity_p50", {}).items():
        table.add_row(f"{kind} p50 ms, first / last quarter of the submissions", f"{fmt_ms(early)} / {fmt_ms(late)}")
    table.add_row("activity executions per minute (all)", _num(resting["activities_per_minute"], 1))
    for kind, count in resting["activities"].items():
        table.add_row(f"  {kind} in the window", str(count))
    table.add_row("polls per order per minute (target <= 1, ~0 with a healthy stream)",
                  _num(resting["polls_per_order_minute"], 3))
    for name, pct in resting["cpu_percent"].items():
        table.add_row(f"CPU {name} (% of one core)", _num(pct, 1))
    table.add_row("worker RSS (MiB)", _num(resting["worker_rss_mib"], 0))
    table.add_row("stream running at the end", str(resting["stream_running"]))
    growth = resting["history_events_per_hour_one_order"]
    table.add_row("history events of one idle order, added per hour", _num(growth, 0))
    table.add_row("  (its history length at the end)", str(resting["history_events_one_order"]))
    return table


def _fill_table(fill: dict[str, Any]) -> Table:
    table = Table(title="fill -> execution row in PostgreSQL (ms)")
    for column in ("via", "samples", "p50", "p90", "p99", "max", "target"):
        table.add_column(column, justify="left" if column == "via" else "right")
    stream, poll = fill["stream_s"], fill["poll_s"]
    table.add_row("stream (supervisor)", str(stream["count"]), fmt_ms(stream["p50"]), fmt_ms(stream["p90"]),
                  fmt_ms(stream["p99"]), fmt_ms(stream["max"]), f"p50 < {fill['target_stream_p50_ms']:.0f} "
                  + _met(fill["meets_target"]))
    table.add_row(f"polling (rested {fill['poll_rest_seconds']:.0f}s)", str(poll["count"]), fmt_ms(poll["p50"]),
                  fmt_ms(poll["p90"]), fmt_ms(poll["p99"]), fmt_ms(poll["max"]),
                  f"bound: poll interval <= {fill['max_poll_interval_s']:.0f}s")
    admin = fill["fill_admin_call_s"]
    table.caption = f"the admin call that makes the fill takes p50 {fmt_ms(admin['p50'])} ms (inside each figure)"
    return table


def _profile_table(profile: dict[str, Any]) -> Table:
    table = Table(title=f"py-spy profile of the worker process ({profile['samples']} samples, CPU only)")
    table.add_column("self time by library")
    table.add_column("%", justify="right")
    table.add_column("innermost of our functions")
    table.add_column("%", justify="right")
    libs, ours = list(profile["by_library"].items()), list(profile["our_functions"].items())
    total = max(profile["samples"], 1)
    for i in range(max(len(libs[:12]), len(ours[:12]))):
        lib = libs[i] if i < len(libs) else ("", 0)
        own = ours[i] if i < len(ours) else ("", 0)
        table.add_row(lib[0], _num(100 * lib[1] / total, 1) if lib[0] else "",
                      own[0], _num(100 * own[1] / total, 1) if own[0] else "")
    return table


def _phase_table(profile: dict[str, Any]) -> Table:
    table = Table(title="where the worker process's samples fall")
    table.add_column("phase")
    table.add_column("%", justify="right")
    total = max(profile["samples"], 1)
    for phase, count in profile["by_phase"].items():
        table.add_row(phase, _num(100 * count / total, 1))
    return table


def print_results(results: dict[str, Any]) -> None:
    """Every section that ran, as tables."""
    from .latency import LatencyResult

    latency: LatencyResult | None = results.get("_latency")
    if latency is not None:
        for level in latency.levels:
            data = results["latency"]["levels"][str(level)]
            console.print(_variants_table(results["latency"], data))
            console.print(_cpu_table(data))
            console.print(_activity_table(data))
            console.print(ratio_table(f"1. ours / baseline (same activity count), {level} in flight",
                                      latency.temporal_ratios(level), "baseline"))
            console.print(ratio_table(f"2. price of durability: workflow / adapter alone, {level} in flight",
                                      latency.durability_ratios(level), "direct"))
    if "resting" in results:
        console.print(_resting_table(results["resting"]))
    if "history" in results:
        console.print(_history_table(results["history"]))
    if "fill" in results:
        console.print(_fill_table(results["fill"]))
    if "profile" in results:
        console.print(_phase_table(results["profile"]))
        console.print(_profile_table(results["profile"]))


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    path.write_text(json.dumps(public, indent=2, default=str) + "\n")


def write_plot(results: dict[str, Any], path: Path) -> bool:
    """A PNG of the latency percentiles per path (needs matplotlib); tell whether it was written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        console.print("[yellow]--plot needs matplotlib (pip install matplotlib); no plot written[/]")
        return False
    latency = results.get("latency")
    if latency is None:
        return False
    level = latency["levels"][max(latency["levels"], key=int)]
    series = ("start->ack", "start->fill recorded", "start->done")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.25
    for i, (name, variant) in enumerate(level["variants"].items()):
        values = [(variant["latency_s"].get(s, {}).get("p50") or 0) * 1000 for s in series]
        ax.bar([x + i * width for x in range(len(series))], values, width, label=name)
    ax.set_xticks([x + width for x in range(len(series))], series)
    ax.set_ylabel("p50 latency (ms)")
    ax.set_title(f"brokerflow bench: p50 latency by order path, {level['concurrency']} in flight")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True
