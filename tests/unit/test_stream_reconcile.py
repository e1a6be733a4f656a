"""The stream's reconcile after a gap asks about every order the database holds open, not only those the
(possibly stale) stream position knew: a cancel whose event was lost with a killed worker still arrives."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from activities.connection_models import StreamInput, StreamPosition
from activities.trade_stream import StreamRunner
from domain.broker_integration import OrderSnapshot, OrderStatus, TradeEvent, TradeEventKind

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Gateway:
    def __init__(self, orders: dict[str, OrderSnapshot]) -> None:
        self.orders = orders

    async def list_open_orders(self) -> list[OrderSnapshot]:
        return [o for o in self.orders.values() if not o.status.is_terminal]

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        return self.orders[broker_order_id]

    async def executions_since(self, since: datetime) -> list[object]:
        return []


class Forwarder:
    def __init__(self, position: StreamPosition) -> None:
        self.position = position
        self.events: list[TradeEvent] = []

    async def forward(self, event: TradeEvent) -> None:
        self.events.append(event)
        self.position.forwarded += 1


def snapshot(bid: str, cid: str, status: OrderStatus) -> OrderSnapshot:
    return OrderSnapshot(broker_order_id=bid, client_order_id=cid, status=status, symbol="AAPL",
                         quantity=Decimal(5), submitted_at=T0, updated_at=T0)


async def test_an_order_the_position_never_saw_is_reconciled_from_the_database() -> None:
    gateway = Gateway({"B1": snapshot("B1", "c1", OrderStatus.CANCELED),
                       "B2": snapshot("B2", "c2", OrderStatus.ACCEPTED),
                       "B3": snapshot("B3", "c3", OrderStatus.CANCELED)})
    position = StreamPosition(last_event_at=T0, revision=3)  # knows none of them
    forwarder = Forwarder(position)

    async def known_open() -> dict[str, str]:
        return {"B1": "c1", "B2": "c2"}  # B3 is not ours to care about (closed in our database)

    runner = StreamRunner(gateway, forwarder, StreamInput(connection_id="c"), None,  # type: ignore[arg-type]
                          known_open=known_open)
    await runner.reconcile()
    assert [(e.kind, e.order.client_order_id) for e in forwarder.events] == [(TradeEventKind.CANCELED, "c1")]
    assert position.working_orders == {"B2": "c2"}  # the open one is followed from now on


async def test_without_the_database_only_the_positions_orders_are_reconciled() -> None:
    gateway = Gateway({"B1": snapshot("B1", "c1", OrderStatus.CANCELED)})
    forwarder = Forwarder(StreamPosition(last_event_at=T0, revision=3))
    runner = StreamRunner(gateway, forwarder, StreamInput(connection_id="c"), None)  # type: ignore[arg-type]
    await runner.reconcile()
    assert forwarder.events == []
