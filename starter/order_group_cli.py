"""``brokerflow order group submit|status|cancel``: bracket, OCO and OTO groups from the shell.

Exit codes: 0 done; 1 failed (group not found, cancel refused, timeout, Temporal unreachable, the group ended
FAILED while waiting); 2 bad input (nothing was started).
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer

from activities.group_models import GroupPath, GroupView, order_group_workflow_id
from domain.broker_integration import DomainValidationError, OrderGroupRequest, OrderSide
from domain.broker_integration.order_groups import exit_side
from starter.orders import OrderClient
from starter.output import (
    BAD_INPUT,
    console,
    err_console,
    fail,
    key_value_table,
    note_native_client,
    print_json,
    records_table,
    run,
    workflow_url,
)
from starter.settings import Settings, get_settings

__all__ = ["group_app", "legs_of"]

group_app = typer.Typer(help="Bracket, OCO and OTO order groups.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (decimals as strings) instead of tables.")]
GroupIdArg = Annotated[str, typer.Argument(help="The group id (its legs are orders <id>-en, <id>-tp, <id>-sl).")]


def _price(text: str | None, name: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        fail(f"invalid {name}: {text!r}", BAD_INPUT)


def legs_of(kind: str, side: str, qty: str, entry_type: str, entry_limit: Decimal | None, take_profit: Decimal | None,
            stop_loss: Decimal | None, stop_limit: Decimal | None, tif: str) -> list[dict[str, Any]]:
    """The legs the options describe (validated by OrderGroupRequest): for an OCO `side` is the exits' side."""
    legs: list[dict[str, Any]] = []
    exits = side
    if kind.upper() != "OCO":
        legs.append({"role": "ENTRY", "side": side, "quantity": qty, "order_type": entry_type,
                     "limit_price": entry_limit, "time_in_force": tif})
        exits = str(exit_side(OrderSide(side.upper())))
    if take_profit is not None:
        legs.append({"role": "TAKE_PROFIT", "side": exits, "quantity": qty, "order_type": "LIMIT",
                     "limit_price": take_profit, "time_in_force": tif})
    if stop_loss is not None:
        legs.append({"role": "STOP_LOSS", "side": exits, "quantity": qty,
                     "order_type": "STOP_LIMIT" if stop_limit is not None else "STOP", "stop_price": stop_loss,
                     "limit_price": stop_limit, "time_in_force": tif})
    return legs


@group_app.command()
def submit(
    kind: Annotated[str, typer.Option(help="bracket, oco or oto.")],
    symbol: Annotated[str, typer.Option(help="Instrument symbol, e.g. AAPL.")],
    side: Annotated[str, typer.Option(help="The entry's side (bracket, oto) or the exits' side (oco).")],
    qty: Annotated[str, typer.Option(help="Quantity of every leg.", metavar="DECIMAL")],
    connection: Annotated[str, typer.Option(help="The connection (all legs go to one broker).")],
    take_profit: Annotated[str | None, typer.Option(help="Take-profit limit price.", metavar="DECIMAL")] = None,
    stop_loss: Annotated[str | None, typer.Option(help="Stop-loss stop price.", metavar="DECIMAL")] = None,
    stop_limit: Annotated[str | None, typer.Option(help="Stop-loss limit price (a stop-limit).", metavar="DECIMAL")
                          ] = None,
    entry_type: Annotated[str, typer.Option(help="Entry order type: market, limit, stop, stop_limit.")] = "market",
    entry_limit: Annotated[str | None, typer.Option(help="Entry limit price.", metavar="DECIMAL")] = None,
    tif: Annotated[str, typer.Option(help="Time in force of every leg: day or gtc.")] = "day",
    account: Annotated[str | None, typer.Option(help="Pin an account of the connection.")] = None,
    group_id: Annotated[str | None, typer.Option(help="Idempotency key (generated if omitted).")] = None,
    path: Annotated[str | None, typer.Option(help="native or emulated (default: native when the broker can).")
                    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Return once the group reached its final state.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.", min=0.1)] = 300.0,
    as_json: JsonOption = False,
) -> None:
    """Start a bracket, OCO or OTO group (one per group id) and print its state."""
    prices = {name: _price(value, name) for name, value in (("entry-limit", entry_limit), ("take-profit", take_profit),
                                                            ("stop-loss", stop_loss), ("stop-limit", stop_limit))}
    try:
        legs = legs_of(kind, side, qty, entry_type, prices["entry-limit"], prices["take-profit"],
                       prices["stop-loss"], prices["stop-limit"], tif)
        group = OrderGroupRequest(group_id=group_id or f"grp-{uuid.uuid4().hex[:16]}", kind=kind, symbol=symbol,
                                  legs=legs, connection_id=connection, account_id=account)
        chosen = GroupPath(path.upper()) if path else None
    except (DomainValidationError, ValueError) as exc:
        problems = [str(p) for p in getattr(exc, "problems", ())] or [str(exc)]
        fail(f"invalid order group ({len(problems)} problem(s)); nothing was started", BAD_INPUT, problems)
    settings = get_settings()
    view = run(_submit(settings, group, chosen, wait, timeout))
    show(view, as_json)
    if wait and view.status == "FAILED":
        fail(f"order group {view.group_id} failed: {view.reason or 'a leg was rejected'}")


@group_app.command()
def status(group_id: GroupIdArg, as_json: JsonOption = False) -> None:
    """Show a group's status and each leg's status and fills."""
    show(run(_status(get_settings(), group_id)), as_json)


@group_app.command()
def cancel(
    group_id: GroupIdArg,
    reason: Annotated[str | None, typer.Option(help="Why (recorded with the group).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a group: live legs canceled, held legs never placed."""
    show(run(_cancel(get_settings(), group_id, reason)), as_json)


def show(view: GroupView, as_json: bool) -> None:
    """Print the group as JSON or as a summary and a table of legs."""
    if as_json:
        print_json(view)
        return
    console.print(key_value_table(f"Order group {view.group_id}", {
        "kind": view.kind, "symbol": view.symbol, "status": view.status, "path": view.path,
        "connection": view.connection_id, "reason": view.reason,
        "both exits filled": "YES" if view.both_exits_filled else None}))
    columns = ("role", "client_order_id", "status", "order_status", "quantity", "filled_quantity", "avg_fill_price",
               "broker_order_id")
    console.print(records_table("Legs", columns, [leg.model_dump() for leg in view.legs]))


async def _connect(settings: Settings) -> OrderClient:
    note_native_client()
    try:
        return await OrderClient.connect(settings)
    except RuntimeError as exc:
        fail(f"cannot reach Temporal at {settings.effective_temporal_address}: {exc}")


async def _submit(settings: Settings, group: OrderGroupRequest, path: GroupPath | None, wait: bool,
                  timeout: float) -> GroupView:
    orders = await _connect(settings)
    err_console.print(f"order group {group.group_id}: "
                      f"{workflow_url(settings, order_group_workflow_id(group.group_id))}")
    await orders.submit_group(group, path=path)
    if wait:
        try:
            return await orders.wait_group(group.group_id, timeout=timeout)
        except TimeoutError:
            fail(f"order group {group.group_id} still running after {timeout:g}s")
    return await _status(settings, group.group_id, orders)


async def _status(settings: Settings, group_id: str, orders: OrderClient | None = None) -> GroupView:
    import asyncio

    from starter.orders import OrderNotFoundError

    orders = orders or await _connect(settings)
    try:
        return await asyncio.wait_for(orders.group_status(group_id), 15.0)
    except OrderNotFoundError as exc:
        fail(str(exc))
    except TimeoutError:
        fail(f"no answer within 15s: is a worker polling task queue {settings.task_queue!r}?")


async def _cancel(settings: Settings, group_id: str, reason: str | None) -> GroupView:
    from starter.orders import OrderChangeRejectedError

    orders = await _connect(settings)
    try:
        return await orders.cancel_group(group_id, reason)
    except OrderChangeRejectedError as exc:
        fail(f"refused: {exc}")
