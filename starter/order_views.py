"""How the order commands show orders: JSON records (decimals as strings) and rich tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activities.models import ChangeResult, OrderView
from domain.broker_integration import OrderStatus
from starter.output import console, fail, jsonable, key_value_table, print_json, print_json_line, workflow_url
from starter.settings import Settings
from workflows.order_workflow import order_workflow_id

__all__ = ["is_terminal", "print_change", "show_change", "show_view", "view_record"]

_VIEW_ROWS = (
    "client_order_id", "status", "symbol", "side", "quantity", "filled_qty", "remaining_qty",
    "avg_fill_price", "commission", "fees", "broker_order_id", "connection_id", "reason", "ui_url",
)


def view_record(settings: Settings, view: OrderView) -> dict[str, Any]:
    """Return an order's view as JSON-ready data with its Web UI address."""
    record: dict[str, Any] = jsonable(view)
    return record | {"ui_url": workflow_url(settings, order_workflow_id(view.client_order_id))}


def is_terminal(status: str) -> bool:
    """Tell whether ``status`` is final (unknown names are not)."""
    try:
        return OrderStatus(status).is_terminal
    except ValueError:
        return False


def show_view(settings: Settings, view: OrderView, as_json: bool) -> None:
    """Print an order as JSON or as a table of its fields."""
    record = view_record(settings, view)
    if as_json:
        print_json(record)
        return
    rows = {name: record.get(name) for name in _VIEW_ROWS}
    if view.route is not None:  # the router's decision: the summary, then every candidate's verdict
        rows["route"] = "\n".join(view.route.explain())
    console.print(key_value_table(f"Order {view.client_order_id}", rows))


def show_change(settings: Settings, cid: str, action: str, result: ChangeResult, view: OrderView | None,
                as_json: bool) -> None:
    """Print the answer to a cancel or amend (with the order's state after it); exit 1 if refused."""
    base = view_record(settings, view) if view else {
        "client_order_id": cid, "status": result.status, "broker_order_id": result.broker_order_id,
    }
    record = base | {"change": action, "accepted": result.accepted, "message": result.message}
    if as_json:
        print_json(record)
    else:
        console.print(f"{action} {'accepted' if result.accepted else 'refused'}: {result.message}")
        if view:
            show_view(settings, view, as_json=False)
    if not result.accepted:
        fail(f"{action} refused: {result.message}")


def print_change(settings: Settings, view: OrderView, as_json: bool) -> None:
    """Print one observed change of an order: a JSON line, or a line of text with the time."""
    now = datetime.now(UTC)
    if as_json:
        print_json_line(view_record(settings, view) | {"at": now})
        return
    avg = view.avg_fill_price if view.avg_fill_price is not None else "-"
    console.print(
        f"{now:%H:%M:%S} {view.client_order_id} {view.status} filled {view.filled_qty}/{view.quantity} "
        f"avg {avg} broker id {view.broker_order_id or '-'}"
    )
