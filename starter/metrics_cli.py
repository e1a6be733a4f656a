"""``brokerflow metrics``: execution quality of stored orders, by broker, account, symbol or day.

Per group: orders, fill rate, average price, acknowledgement latency (median, p95), time to first fill and
to complete, slippage against the arrival price in bps (weighted by quantity, median, p95), commission and
fees in total and per share. `--plot PATH` writes the latency and slippage distributions per broker as a PNG.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from activities.calendar import NEW_YORK, market_date
from domain.broker_integration.rules.metrics import ExecutionMetrics, GroupBy, aggregate_metrics
from persistence.repositories.execution_stats import execution_stats_for
from starter.output import BAD_INPUT, console, fail, print_json, records_table
from starter.output import run as run_async
from starter.settings import get_settings
from starter.store import open_store

__all__ = ["app", "parse_since"]

app = typer.Typer(help="Execution metrics: latency, fill rate, slippage, costs per share.", invoke_without_command=True)

_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS = ("key", "orders", "filled_orders", "rejected_orders", "fill_rate", "avg_fill_price", "median_ack_latency_ms",
           "p95_ack_latency_ms", "median_time_to_first_fill_ms", "median_time_to_complete_ms", "avg_slippage_bps",
           "median_slippage_bps", "p95_slippage_bps", "commission", "fees", "commission_per_share", "fees_per_share")


def parse_since(text: str | None, now: datetime) -> datetime | None:
    """`7d`, `12h`, `30m`, `2w` ago; a date (its New York midnight); or an ISO timestamp (UTC if naive)."""
    if text is None or not text.strip():
        return None
    raw = text.strip().lower()
    if (match := _RELATIVE.match(raw)) is not None:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(), tzinfo=NEW_YORK).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since must be like 7d, 12h, 2026-11-25 or 2026-11-25T14:30:00Z, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def _load(since: datetime | None) -> list[ExecutionMetrics]:
    async with open_store(get_settings()) as repos:
        stats = execution_stats_for(repos)
        if stats is None:
            fail("metrics need the PostgreSQL repositories")
        rows = await stats.order_metrics(since)
    return [r.model_copy(update={"trade_date": market_date(r.submitted_at)}) if r.submitted_at else r for r in rows]


def _order_record(m: ExecutionMetrics) -> dict[str, Any]:
    return m.model_dump(mode="json")


@app.callback()
def metrics(
    ctx: typer.Context,
    by: Annotated[GroupBy, typer.Option("--by", help="Group by broker, account, symbol or day.")] = GroupBy.BROKER,
    since: Annotated[str | None, typer.Option(help="Only orders since: 7d, 12h, a date, or an ISO time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write latency and slippage distributions per "
                                                            "broker to this PNG file.")] = None,
    orders: Annotated[bool, typer.Option("--orders", help="Also list each order's metrics.")] = False,
) -> None:
    """Print execution metrics of stored orders, aggregated by broker (default), account, symbol or day."""
    if ctx.invoked_subcommand is not None:
        return
    now = datetime.now(UTC)
    try:
        start = parse_since(since, now)
    except ValueError as exc:
        fail(str(exc), BAD_INPUT)
    rows = run_async(_load(start))
    groups = aggregate_metrics(rows, by)
    written = None
    if plot is not None:
        from starter.metrics_plot import PlotUnavailableError, plot_distributions

        window = f"since {start:%Y-%m-%d %H:%M} UTC" if start else "all orders"
        try:
            written = plot_distributions(rows, plot, f"brokerflow execution metrics ({len(rows)} orders, {window})")
        except PlotUnavailableError as exc:
            fail(str(exc), BAD_INPUT)
    if as_json:
        report: dict[str, Any] = {"by": str(by), "since": start, "orders_count": len(rows),
                                  "aggregates": [g.model_dump(mode="json") for g in groups]}
        if orders:
            report["orders"] = [_order_record(m) for m in rows]
        if written is not None:
            report["plot"] = str(written)
        print_json(report)
        return
    console.print(records_table(f"Execution metrics by {by} ({len(rows)} orders)", COLUMNS,
                                [g.model_dump() for g in groups]))
    if orders:
        columns = ("client_order_id", "broker", "account_id", "symbol", "side", "status", "fill_rate",
                   "avg_fill_price", "ack_latency_ms", "time_to_first_fill_ms", "time_to_complete_ms",
                   "slippage_bps", "commission_per_share", "fees_per_share")
        console.print(records_table("Orders", columns, [m.model_dump() for m in rows]))
    if not rows:
        console.print("No orders yet" + (f" since {start.isoformat(timespec='seconds')}" if start else "") + ".")
    if written is not None:
        console.print(f"plot written to {written}")
