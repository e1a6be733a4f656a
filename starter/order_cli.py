"""``brokerflow order submit|cancel|amend|status|list|watch``: orders from the shell.

Exit codes: 0 done; 1 failed (order not found, change refused, rejected while waiting, timeout,
Temporal unreachable); 2 bad input (nothing was started or changed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

import typer
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from activities.models import ChangeResult, OrderRequest, OrderView
from domain.broker_integration import DomainValidationError, OrderStatus
from starter.order_input import OrderOptions, build_amendment, describe, parse_status
from starter.order_views import is_terminal, print_change, show_change, show_view, view_record
from starter.orders import OrderChangeRejectedError, OrderClient, OrderNotFoundError
from starter.output import (
    BAD_INPUT,
    console,
    err_console,
    fail,
    jsonable,
    note_native_client,
    print_json,
    records_table,
    run,
    workflow_url,
)
from starter.settings import Settings, get_settings
from workflows.order_workflow import order_workflow_id

__all__ = ["app"]

app = typer.Typer(help="Submit, cancel, amend and follow orders.", no_args_is_help=True)

QUERY_TIMEOUT = 15.0  # a status query waits for a worker; say so instead of hanging
T = TypeVar("T")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (decimals as strings) instead of tables.")]
UpdateIdOption = Annotated[
    str | None, typer.Option("--update-id", help="Idempotency key: retrying with the same id is one change.")
]
OrderIdArg = Annotated[str, typer.Argument(help="The client order id.")]


def _decimal(help_text: str) -> Any:
    return typer.Option(help=help_text, metavar="DECIMAL")


@app.command()
def submit(
    symbol: Annotated[str | None, typer.Option(help="Instrument symbol, e.g. AAPL.")] = None,
    side: Annotated[str | None, typer.Option(help="buy, sell, sell_short or buy_to_cover.")] = None,
    qty: Annotated[str | None, _decimal("Quantity.")] = None,
    order_type: Annotated[str, typer.Option("--type", help="market, limit, stop, stop_limit, trailing_stop.")
                          ] = "market",
    limit_price: Annotated[str | None, _decimal("Limit price (limit, stop_limit).")] = None,
    stop_price: Annotated[str | None, _decimal("Stop (trigger) price (stop, stop_limit).")] = None,
    trail_price: Annotated[str | None, _decimal("Trail in price units (trailing_stop).")] = None,
    trail_percent: Annotated[str | None, _decimal("Trail in percent (trailing_stop).")] = None,
    tif: Annotated[str, typer.Option(help="Time in force: day, gtc, ioc, fok, opg, cls, gtd.")] = "day",
    expire_at: Annotated[str | None, typer.Option(help="Expiry for gtd, ISO 8601 (UTC if no offset).")] = None,
    extended_hours: Annotated[bool, typer.Option("--extended-hours", help="Allow pre/post-market trading.")
                              ] = False,
    connection: Annotated[str | None, typer.Option(help="Pin a connection (else the router picks).")] = None,
    account: Annotated[str | None, typer.Option(help="Pin an account of the connection.")] = None,
    client_order_id: Annotated[str | None, typer.Option(help="Idempotency key (generated if omitted).")] = None,
    wait_ack: Annotated[bool, typer.Option("--wait-ack", help="Return once the broker acknowledged it.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Return once the order reached its final state.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait/--wait-ack.", min=0.1)] = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Start an order (one per client order id) and print its state and Web UI address."""
    options = OrderOptions(
        symbol, side, qty, order_type, limit_price, stop_price, trail_price, trail_percent, tif, expire_at,
        extended_hours, connection, account, client_order_id,
    )
    try:
        request = OrderClient.prepare(options.to_request())
    except DomainValidationError as exc:
        problems = [describe(p) for p in exc.problems]
        fail(f"invalid order ({len(problems)} problem(s)); nothing was started", BAD_INPUT, problems)
    settings = get_settings()
    view = _run(_submit(settings, request, wait_ack=wait_ack, wait=wait, timeout=timeout))
    show_view(settings, view, as_json)
    if (wait or wait_ack) and view.status == OrderStatus.REJECTED:
        fail(f"order {view.client_order_id} was rejected: {view.reason or 'no reason given'}")


@app.command()
def cancel(
    client_order_id: OrderIdArg,
    reason: Annotated[str | None, typer.Option(help="Why (recorded with the order).")] = None,
    update_id: UpdateIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel an order; exit 1 with the reason when it cannot be canceled."""
    settings = get_settings()
    result, view = _run(_change(settings, client_order_id, "cancel", reason, update_id))
    show_change(settings, client_order_id, "cancel", result, view, as_json)


@app.command()
def amend(
    client_order_id: OrderIdArg,
    qty: Annotated[str | None, _decimal("New total quantity.")] = None,
    limit_price: Annotated[str | None, _decimal("New limit price.")] = None,
    stop_price: Annotated[str | None, _decimal("New stop price.")] = None,
    trail: Annotated[str | None, _decimal("New trail (price or percent, as the order has).")] = None,
    update_id: UpdateIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Amend quantity, prices or trail; exit 1 with the reason when the change is refused."""
    try:
        amendment = build_amendment(qty, limit_price, stop_price, trail)
    except DomainValidationError as exc:
        fail("invalid amendment; nothing was changed", BAD_INPUT, [describe(p) for p in exc.problems])
    settings = get_settings()
    result, view = _run(_change(settings, client_order_id, "amend", amendment, update_id))
    show_change(settings, client_order_id, "amend", result, view, as_json)


@app.command()
def status(
    client_order_id: OrderIdArg,
    executions: Annotated[bool, typer.Option("--executions", help="Also list the executions (fills).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Show an order's state: status, filled quantity, average price, fees, broker order id."""
    settings = get_settings()
    view, fills = _run(_status(settings, client_order_id, executions))
    if as_json:
        print_json(view_record(settings, view) | ({"executions": jsonable(fills)} if executions else {}))
        return
    show_view(settings, view, as_json=False)
    if executions:
        columns = ("execution_id", "quantity", "price", "commission", "fees", "executed_at")
        console.print(records_table("Executions", columns, [jsonable(f) for f in fills]))


@app.command("list")
def list_orders(
    status: Annotated[str | None, typer.Option(help="Only orders in this status, e.g. FILLED.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many orders.", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """List recent orders, newest first."""
    try:
        wanted = parse_status(status)
    except DomainValidationError as exc:
        fail("invalid filter", BAD_INPUT, [str(p) for p in exc.problems])
    rows = _run(_list(get_settings(), wanted, limit))
    if as_json:
        print_json(rows)
        return
    columns = ("client_order_id", "status", "symbol", "side", "type", "started", "workflow")
    console.print(records_table(f"Orders ({len(rows)})", columns, rows))


@app.command()
def watch(
    client_order_id: OrderIdArg,
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.1)] = 1.0,
    timeout: Annotated[float, typer.Option(help="Give up (exit 1) after this many seconds.", min=0.1)] = 600.0,
    as_json: JsonOption = False,
) -> None:
    """Print each change of an order until it reaches a final state (JSON: one object per line)."""
    settings = get_settings()
    if not as_json:
        err_console.print(f"watching {client_order_id}: {workflow_url(settings, order_workflow_id(client_order_id))}")
    _run(_watch(settings, client_order_id, interval, timeout, as_json))


async def _connect(settings: Settings) -> OrderClient:
    note_native_client()
    try:
        return await OrderClient.connect(settings)
    except RuntimeError as exc:
        fail(f"cannot reach Temporal at {settings.effective_temporal_address}: {exc}")


async def _query(settings: Settings, call: Awaitable[T]) -> T:
    """Await a query, failing clearly when no worker answers."""
    try:
        return await asyncio.wait_for(call, QUERY_TIMEOUT)
    except TimeoutError:
        fail(f"no answer within {QUERY_TIMEOUT:g}s: is a worker polling task queue {settings.task_queue!r}?")


async def _submit(settings: Settings, request: OrderRequest, *, wait_ack: bool, wait: bool, timeout: float
                  ) -> OrderView:
    orders = await _connect(settings)
    cid = request.client_order_id or ""
    err_console.print(f"order {cid}: {workflow_url(settings, order_workflow_id(cid))}")
    if wait_ack:
        view = await orders.submit_and_wait_for_ack(request, timeout=timeout)
    else:
        await orders.submit(request)
    if wait:
        return (await orders.wait(cid, timeout=timeout)).view
    return view if wait_ack else await _query(settings, orders.status(cid))


async def _change(settings: Settings, cid: str, action: str, arg: Any, update_id: str | None
                  ) -> tuple[ChangeResult, OrderView | None]:
    orders = await _connect(settings)
    if action == "cancel":
        result = await orders.cancel(cid, reason=arg, update_id=update_id)
    else:
        result = await orders.amend(cid, arg, update_id=update_id)
    try:
        view: OrderView | None = await asyncio.wait_for(orders.status(cid), QUERY_TIMEOUT)
    except (TimeoutError, RPCError):
        view = None  # the change is done; a missing view only costs detail
    return result, view


async def _status(settings: Settings, cid: str, with_executions: bool) -> tuple[OrderView, list[Any]]:
    orders = await _connect(settings)
    view = await _query(settings, orders.status(cid))
    fills = await _query(settings, orders.executions(cid)) if with_executions else []
    return view, fills


async def _list(settings: Settings, status: OrderStatus | None, limit: int) -> list[dict[str, Any]]:
    orders = await _connect(settings)
    rows = await orders.list(status=status.value if status else None, limit=limit)
    return [dict(jsonable(row)) for row in rows]


async def _watch(settings: Settings, cid: str, interval: float, timeout: float, as_json: bool) -> OrderView:
    orders = await _connect(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: tuple[Any, ...] | None = None
    while True:
        view = await _query(settings, orders.status(cid))
        key = (view.status, view.quantity, view.filled_qty, view.avg_fill_price, view.broker_order_id)
        if key != last:
            print_change(settings, view, as_json)
            last = key
        if is_terminal(view.status):
            return view
        if loop.time() >= deadline:
            fail(f"order {cid} is still {view.status} after {timeout:g}s")
        await asyncio.sleep(interval)


def _run(coroutine: Any) -> Any:
    """Run a command's coroutine, turning the expected failures into a message and exit code 1."""
    try:
        return run(coroutine)
    except OrderNotFoundError as exc:
        fail(str(exc))
    except OrderChangeRejectedError as exc:
        fail(f"refused: {exc}")
    except TimeoutError:
        fail("timed out waiting for the order; it keeps running, follow it with `brokerflow order watch`")
    except WorkflowFailureError as exc:
        fail(f"the order workflow failed: {exc.cause or exc}")
    except RPCError as exc:
        fail(f"Temporal refused the call: {exc.message}")


def _add_group_commands() -> None:
    """`brokerflow order group ...` (issue 8): bracket, OCO and OTO groups."""
    from starter.order_group_cli import group_app

    app.add_typer(group_app, name="group")


_add_group_commands()
