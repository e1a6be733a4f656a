"""`make demo`: the local stack, the simulator and a worker; a basket of orders; a table of outcomes.

Everything runs on embedded defaults (PyPI wheels only). With --keep-running the stack, the simulator
and the worker stay up for exploring the Temporal Web UI until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from activities.models import OrderOutcome
from brokers.registry import GatewayRegistry
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories, open_repositories
from simulator.testing import SimulatorProcess

from .accounts import account_view, sync_connection
from .client import connect
from .demo_basket import PRICES, DemoOrder, basket
from .devstack import stack_status, start_stack, stop_stack
from .orders import OrderClient
from .settings import Settings, get_settings

__all__ = ["main"]

console = Console(width=None if Console().is_terminal else 140)
MARGIN, CASH = "demo-margin", "demo-cash"


def main(keep_running: bool = False) -> None:
    """Run the demo; exit non-zero if any order did not end as the table claims."""
    ok = asyncio.run(_run(get_settings(), keep_running))
    if not ok:
        raise SystemExit(1)


async def _run(settings: Settings, keep_running: bool) -> bool:
    was_up = all(part.up for part in stack_status(settings))
    info = await asyncio.to_thread(start_stack, settings)
    console.print(f"[bold]stack[/] PostgreSQL and Temporal up; Web UI {info.ui_url or settings.temporal_ui_url}")
    sim = await asyncio.to_thread(SimulatorProcess(autotick=True).start)
    console.print(f"[bold]simulator[/] Alpaca v2 protocol on {sim.base_url} (pid {sim.pid})")
    repos = await open_repositories(info.database_url, data_dir=settings.resolved_data_dir)
    try:
        return await _with_worker(settings, repos, sim, keep_running)
    finally:
        await repos.close()
        await asyncio.to_thread(sim.stop)
        if not was_up and not keep_running:
            stopped = await asyncio.to_thread(stop_stack, settings)
            console.print(f"[bold]stack[/] stopped: {', '.join(stopped) or 'nothing'}")


async def _with_worker(settings: Settings, repos: Repositories, sim: SimulatorProcess, keep_running: bool) -> bool:
    await _register(repos, sim)
    for symbol, price in PRICES.items():
        await asyncio.to_thread(sim.admin.set_price, symbol, str(price), 0)
    client = await connect(settings, serve_metrics=keep_running)  # BROKERFLOW_METRICS_PORT: /metrics while up
    from worker import running_worker

    async with running_worker(client, repos, settings.task_queue) as running:
        orders = OrderClient(client, settings.task_queue)
        outcomes = await _run_basket(orders, sim, basket(MARGIN, CASH))
        ok = await _report(settings, repos, sim, outcomes)
        ok = await _accounts(repos, running.registry) and ok
        if keep_running:
            await _wait_for_ctrl_c(settings)
    return ok


async def _register(repos: Repositories, sim: SimulatorProcess) -> None:
    for connection_id, (key, secret) in {MARGIN: ("SIMKEY", "SIMSECRET"), CASH: ("SIMKEY2", "SIMSECRET2")}.items():
        await repos.connections.save(BrokerConnection(connection_id=connection_id, broker="alpaca",
                                                      base_url=sim.base_url))
        await repos.connections.save_credentials(connection_id, ConnectionCredentials(api_key=key, api_secret=secret))
    console.print(f"[bold]connections[/] {MARGIN} (margin account), {CASH} (cash account)")


async def _run_basket(orders: OrderClient, sim: SimulatorProcess, items: list[DemoOrder]
                      ) -> list[tuple[DemoOrder, OrderOutcome]]:
    first = [item for item in items if item.after_fill_of is None]
    acks = await asyncio.gather(*(orders.submit_and_wait_for_ack(item.request) for item in first))
    for item, ack in zip(first, acks, strict=True):
        console.print(f"  submitted {item.label:<34} -> {ack.status}")
    by_label = {item.label: item for item in items}
    await orders.wait(by_label["market buy"].request.client_order_id or "", timeout=60)
    for item in items:
        if item.after_fill_of is not None:
            ack = await orders.submit_and_wait_for_ack(item.request)
            console.print(f"  submitted {item.label:<34} -> {ack.status}")
    await _steer(orders, items)
    console.print("  the market moves: NVDA and AMZN rally 2%, then AAPL drops 3%")
    for symbol, factor in (("NVDA", "1.02"), ("AMZN", "1.02"), ("AAPL", "0.97")):
        await asyncio.to_thread(sim.admin.set_price, symbol, str(PRICES[symbol] * Decimal(factor)), 0)
    return [(item, await orders.wait(item.request.client_order_id or "", timeout=90)) for item in items]


async def _steer(orders: OrderClient, items: list[DemoOrder]) -> None:
    for item in items:
        cid = item.request.client_order_id or ""
        if item.amend is not None:
            result = await orders.amend(cid, item.amend)
            console.print(f"  amended   {item.label:<34} -> {result.message}")
        if item.cancel:
            result = await orders.cancel(cid, reason="demo")
            console.print(f"  canceled  {item.label:<34} -> {result.status}")


async def _report(settings: Settings, repos: Repositories, sim: SimulatorProcess,
                  outcomes: list[tuple[DemoOrder, OrderOutcome]]) -> bool:
    table = Table(title="brokerflow demo: outcomes", show_lines=False)
    for column in ("order", "status", "filled", "avg price", "fees", "checked"):
        table.add_column(column, no_wrap=column != "order")
    broker = await asyncio.to_thread(sim.admin.orders)
    all_ok = True
    for item, outcome in outcomes:
        ok, note = await _verify(repos, broker, item, outcome)
        all_ok = all_ok and ok
        view = outcome.view
        avg = f"{view.avg_fill_price:.2f}" if view.avg_fill_price is not None else "-"
        table.add_row(f"{item.label}: [dim]{item.request.to_broker_order().describe()}[/]", view.status,
                      f"{view.filled_qty.normalize():f}/{view.quantity.normalize():f}", avg, f"{view.fees}",
                      "[green]ok[/]" if ok else f"[red]{note}[/]")
    console.print(table)
    console.print("[bold]Web UI[/] of each order:")
    for item, outcome in outcomes:
        console.print(f"  {item.label:<34} {_ui_url(settings, outcome.view.client_order_id)}", soft_wrap=True)
    console.print("[green]every order is in the state the table claims (workflow, database and broker agree)[/]"
                  if all_ok else "[red]some orders disagree: see the checked column[/]")
    return all_ok


async def _accounts(repos: Repositories, registry: GatewayRegistry) -> bool:
    """Both accounts synchronised from the broker: our booked figures must match its figures exactly."""
    table = Table(title="accounts: our books against the broker's", show_lines=False)
    for column in ("connection", "account", "type", "cash", "settled cash", "equity", "buying power (ours)",
                   "broker's", "positions", "drift"):
        table.add_column(column, no_wrap=True)
    agree = True
    for connection_id in (MARGIN, CASH):
        for synced in await sync_connection(repos, registry, connection_id, datetime.now(UTC)):
            record = (await account_view(repos, synced.account, datetime.now(UTC))).record()
            agree = agree and not synced.drifts
            table.add_row(connection_id, record["account_number"], record["account_type"], f"{record['cash']:.2f}",
                          f"{record['settled_cash']:.2f}", f"{record['equity']:.2f}",
                          f"{record['buying_power']:.2f}", f"{record['broker_buying_power']:.2f}",
                          str(record["positions"]),
                          "[green]none[/]" if not synced.drifts else "[red]" + "; ".join(
                              d.describe() for d in synced.drifts) + "[/]")
    console.print(table)
    console.print("[green]every fill and fee booked into the accounts matches the broker's figures[/]" if agree
                  else "[red]the accounts differ from the broker's figures: see the drift column[/]")
    return agree


async def _verify(repos: Repositories, broker: dict[str, Any], item: DemoOrder, outcome: OrderOutcome
                  ) -> tuple[bool, str]:
    view = outcome.view
    if view.status != item.expect:
        return False, f"expected {item.expect}"
    stored = await repos.orders.get(view.client_order_id)
    if view.status == "REJECTED" and stored is None:
        return True, ""
    if stored is None or stored.status != view.status or stored.filled_quantity != view.filled_qty:
        return False, "database differs"
    at_broker = [o for o in broker["orders"] if o["client_order_id"].split("~")[0] == view.client_order_id]
    filled = sum((Decimal(o["filled_qty"]) for o in at_broker), Decimal(0))
    if filled != view.filled_qty or len(broker["submissions"].get(view.client_order_id, [])) > 1:
        return False, "broker differs"
    return True, ""


def _ui_url(settings: Settings, client_order_id: str) -> str:
    return f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/order-{client_order_id}"


async def _wait_for_ctrl_c(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console.print(f"\n[bold]running[/]: explore {settings.temporal_ui_url}; `brokerflow order list`; Ctrl-C stops "
                  "the worker and the simulator (the stack stays up: `brokerflow dev down`).")
    if settings.metrics_port is not None:
        console.print(f"metrics: http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    await stop.wait()
