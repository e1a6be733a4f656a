"""The stream's reconcile after a gap asks about every order the database holds open, not only those the
(possibly stale) stream position knew: a cancel whose event was lost with a killed worker still arrives.
And while the stream runs, a pass every `reconcile_every_seconds` delivers what the broker's stream lost."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from activities.connection_models import StreamInput, StreamPosition
from activities.trade_stream import EventForwarder, StreamRunner
from domain.broker_integration import ExecutionReport, OrderSnapshot, OrderStatus, TradeEvent, TradeEventKind
from tests.trade_updates import RecordingForwarder

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


def snapshot(bid: str, cid: str, status: OrderStatus) -> OrderSnapshot:
    return OrderSnapshot(broker_order_id=bid, client_order_id=cid, status=status, symbol="AAPL",
                         quantity=Decimal(5), submitted_at=T0, updated_at=T0)


async def test_an_order_the_position_never_saw_is_reconciled_from_the_database() -> None:
    gateway = Gateway({"B1": snapshot("B1", "c1", OrderStatus.CANCELED),
                       "B2": snapshot("B2", "c2", OrderStatus.ACCEPTED),
                       "B3": snapshot("B3", "c3", OrderStatus.CANCELED)})
    position = StreamPosition(last_event_at=T0, revision=3)  # knows none of them
    forwarder = RecordingForwarder(position)

    async def known_open() -> dict[str, Decimal]:
        return {"B1": Decimal(0), "B2": Decimal(0)}  # B3 is closed in our database

    runner = StreamRunner(gateway, forwarder, StreamInput(connection_id="c"), None,  # type: ignore[arg-type]
                          known_open=known_open)
    await runner.reconcile()
    assert [(e.kind, e.order.client_order_id) for e in forwarder.events] == [(TradeEventKind.CANCELED, "c1")]
    assert position.working_orders == {"B2": "c2"}  # the open one is followed from now on


async def test_without_the_database_only_the_positions_orders_are_reconciled() -> None:
    gateway = Gateway({"B1": snapshot("B1", "c1", OrderStatus.CANCELED)})
    forwarder = RecordingForwarder(StreamPosition(last_event_at=T0, revision=3))
    runner = StreamRunner(gateway, forwarder, StreamInput(connection_id="c"), None)  # type: ignore[arg-type]
    await runner.reconcile()
    assert forwarder.events == []


# ---- the periodic reconcile: one pass for the whole connection instead of a safety poll per order ----------

class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class FillsGateway(Gateway):
    def __init__(self, orders: dict[str, OrderSnapshot], fills: list[ExecutionReport]) -> None:
        super().__init__(orders)
        self.fills = fills
        self.asked_since: list[datetime] = []
        self.fail = False

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:  # type: ignore[override]
        self.asked_since.append(since)
        if self.fail:
            raise RuntimeError("broker answered 503")
        return [f for f in self.fills if f.executed_at >= since]


def fill(execution_id: str, bid: str, cid: str, at: datetime, cumulative: int) -> ExecutionReport:
    return ExecutionReport(execution_id=execution_id, client_order_id=cid, broker_order_id=bid, symbol="AAPL",
                           side="BUY", quantity=Decimal(cumulative), price=Decimal("149"), executed_at=at,
                           cumulative_quantity=Decimal(cumulative))


PERIODIC = StreamInput(connection_id="c", reconcile_every_seconds=60, reconcile_margin_seconds=30)


class SignalledClient:
    """Stands in for the Temporal client of an `EventForwarder`: records each signal as (workflow id, event),
    each one taking `delay` seconds (another forward runs meanwhile)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.signals: list[tuple[str, TradeEvent]] = []

    def get_workflow_handle(self, workflow_id: str) -> SignalledClient._Handle:
        return self._Handle(self, workflow_id)

    class _Handle:
        def __init__(self, client: SignalledClient, workflow_id: str) -> None:
            self.client, self.workflow_id = client, workflow_id

        async def signal(self, name: str, event: TradeEvent) -> None:
            await asyncio.sleep(self.client.delay)
            self.client.signals.append((self.workflow_id, event))


async def test_a_pass_asks_for_the_fills_since_the_last_event_in_the_brokers_time() -> None:
    # Our clock plays no part: the broker dates its fills by its own (the simulator's runs in another year).
    gateway = FillsGateway({}, [])
    position = StreamPosition(last_event_at=T0 - timedelta(hours=5), reconciled_at=T0, revision=9)
    clock = Clock(datetime(2030, 1, 1, tzinfo=UTC))
    runner = StreamRunner(gateway, RecordingForwarder(position), PERIODIC, None, clock=clock)  # type: ignore[arg-type]
    await runner.reconcile()
    assert gateway.asked_since == [T0 - timedelta(hours=5, seconds=30)]
    assert position.reconciled_at == clock.at  # when the pass began, by our clock: the next is due from here


async def test_a_fill_the_stream_lost_is_forwarded_by_the_next_pass_and_a_seen_one_is_not() -> None:
    working = snapshot("B1", "c1", OrderStatus.PARTIALLY_FILLED)
    lost = fill("E2", "B1", "c1", T0 + timedelta(seconds=20), 2)
    seen = fill("E1", "B1", "c1", T0 + timedelta(seconds=10), 1)
    gateway = FillsGateway({"B1": working}, [seen, lost])
    position = StreamPosition(last_event_at=T0 + timedelta(seconds=10), recent_execution_ids=["E1"], revision=4)
    forwarder = RecordingForwarder(position)
    runner = StreamRunner(gateway, forwarder, PERIODIC, None, clock=Clock(T0))  # type: ignore[arg-type]
    assert await runner.reconcile() == 1
    (event,) = forwarder.events
    assert event.kind == TradeEventKind.PARTIAL_FILL and event.execution == lost


async def test_an_order_filled_further_than_our_database_knows_gets_its_fills_from_its_submission() -> None:
    # No event was ever forwarded (a new stream), so there is no last event to ask fills from: the order itself
    # says the broker filled 5 where we hold 0, and its fills since it was sent are asked for and forwarded. A
    # fill on its way looks the same for a moment: only the drift a second pass still sees counts.
    done = snapshot("B1", "c1", OrderStatus.FILLED).model_copy(update={"filled_quantity": Decimal(5)})
    other = fill("E9", "B9", "c9", T0 + timedelta(seconds=5), 1)  # another order's fill: not this one's
    lost = fill("E1", "B1", "c1", T0 + timedelta(seconds=20), 5)
    gateway = FillsGateway({"B1": done}, [other, lost])
    forwarder = RecordingForwarder(StreamPosition(revision=2))

    async def known_open() -> dict[str, Decimal]:
        return {"B1": Decimal(0)}

    runner = StreamRunner(gateway, forwarder, PERIODIC, None, known_open=known_open,  # type: ignore[arg-type]
                          clock=Clock(T0))
    await runner.reconcile()
    assert gateway.asked_since == [] and forwarder.events == []  # maybe on its way: asked about next pass
    await runner.reconcile()
    assert gateway.asked_since == [T0 - timedelta(seconds=30)]  # the order's submission, less the margin
    assert [(e.kind, e.execution) for e in forwarder.events] == [(TradeEventKind.FILL, lost)]


async def test_a_drift_that_resolves_before_the_next_pass_costs_no_question() -> None:
    moving = snapshot("B1", "c1", OrderStatus.PARTIALLY_FILLED).model_copy(update={"filled_quantity": Decimal(2)})
    gateway = FillsGateway({"B1": moving}, [fill("E1", "B1", "c1", T0, 2)])
    ours = {"B1": Decimal(0)}

    async def known_open() -> dict[str, Decimal]:
        return ours

    runner = StreamRunner(gateway, RecordingForwarder(StreamPosition(revision=2)), PERIODIC, None,  # type: ignore[arg-type]
                          known_open=known_open, clock=Clock(T0))
    await runner.reconcile()
    ours["B1"] = Decimal(2)  # the stream's event arrived and was stored
    gateway.orders["B1"] = moving.model_copy(update={"filled_quantity": Decimal(3)})
    await runner.reconcile()  # a new drift (3 > 2), not the one seen before: asked about next pass only
    assert gateway.asked_since == []


async def test_a_pass_starts_when_due_beside_the_stream_and_a_failed_one_is_retried_not_raised() -> None:
    gateway = FillsGateway({}, [])
    clock = Clock(T0)
    position = StreamPosition(last_event_at=T0, reconciled_at=T0, revision=1)
    runner = StreamRunner(gateway, RecordingForwarder(position), PERIODIC, None, clock=clock)  # type: ignore[arg-type]
    runner._reconcile_when_due()
    assert runner._periodic is None  # not due yet
    clock.at = T0 + timedelta(seconds=60)
    gateway.fail = True
    runner._reconcile_when_due()
    assert runner._periodic is not None
    with contextlib.suppress(RuntimeError):
        await runner._periodic
    assert position.reconciled_at == T0  # a failed pass does not count: the next one is due at once
    gateway.fail = False
    runner._reconcile_when_due()  # logs the failure, starts again: the stream goes on
    assert runner._periodic is not None
    await runner._periodic
    assert len(gateway.asked_since) == 2
    assert position.reconciled_at == clock.at


async def test_without_an_interval_there_is_no_periodic_pass() -> None:
    runner = StreamRunner(FillsGateway({}, []), RecordingForwarder(StreamPosition(revision=1)),  # type: ignore[arg-type]
                          StreamInput(connection_id="c"), None, clock=Clock(T0 + timedelta(days=1)))
    runner._reconcile_when_due()
    assert runner._periodic is None


async def test_the_stream_and_a_pass_forwarding_the_same_fill_signal_it_once() -> None:
    client = SignalledClient(delay=0.01)  # the other forward runs meanwhile
    forwarder = EventForwarder(client, StreamPosition())  # type: ignore[arg-type]
    report = fill("E1", "B1", "c1", T0, 1)
    event = TradeEvent(kind=TradeEventKind.PARTIAL_FILL, order=snapshot("B1", "c1", OrderStatus.ACCEPTED),
                       occurred_at=T0, execution=report)
    await asyncio.gather(forwarder.forward(event), forwarder.forward(event))
    assert [e.execution.execution_id for _, e in client.signals if e.execution] == ["E1"]
    assert len(client.signals) == 1


async def test_a_pass_over_thousands_of_open_orders_asks_the_broker_nothing_per_order() -> None:
    orders = {f"B{i}": snapshot(f"B{i}", f"c{i}", OrderStatus.ACCEPTED) for i in range(1000)}
    gateway = FillsGateway(orders, [])
    asked: list[str] = []
    original = gateway.get_order

    async def get_order(broker_order_id: str) -> OrderSnapshot:
        asked.append(broker_order_id)
        return await original(broker_order_id)

    gateway.get_order = get_order  # type: ignore[method-assign]

    async def known_open() -> dict[str, Decimal]:
        return dict.fromkeys(orders, Decimal(0))

    runner = StreamRunner(gateway, RecordingForwarder(StreamPosition(revision=2)), PERIODIC, None,  # type: ignore[arg-type]
                          known_open=known_open, clock=Clock(T0))
    assert await runner.reconcile() == 0  # heartbeats along the way are skipped outside an activity
    assert asked == []


async def test_an_acknowledgement_moves_the_position_without_a_signal_and_a_fill_is_signalled() -> None:
    """The order workflow has its acknowledgement from its own submission: a signal of it would only cost the
    order a workflow task that changes nothing. The order is followed as working all the same."""
    client = SignalledClient()
    position = StreamPosition()
    forwarder = EventForwarder(client, position)  # type: ignore[arg-type]
    working = snapshot("B1", "c1", OrderStatus.ACCEPTED)
    for kind in (TradeEventKind.PENDING_NEW, TradeEventKind.ACCEPTED, TradeEventKind.NEW):
        await forwarder.forward(TradeEvent(kind=kind, order=working, occurred_at=T0))
    assert client.signals == []
    assert position.working_orders == {"B1": "c1"} and position.last_event_at == T0 and position.revision == 3
    later = T0 + timedelta(seconds=1)
    await forwarder.forward(TradeEvent(kind=TradeEventKind.FILL, order=snapshot("B1", "c1", OrderStatus.FILLED),
                                       occurred_at=later, execution=fill("E1", "B1", "c1", later, 5)))
    await forwarder.forward(TradeEvent(kind=TradeEventKind.CANCELED, order=snapshot("B2", "c2", OrderStatus.CANCELED),
                                       occurred_at=later))
    assert [(workflow_id, e.kind) for workflow_id, e in client.signals] == [
        ("order-c1", TradeEventKind.FILL), ("order-c2", TradeEventKind.CANCELED)]
    assert position.forwarded == 2 and position.working_orders == {}


async def test_orders_filled_further_than_our_database_cost_one_question_and_their_fills_come_before_a_cancel(
        ) -> None:
    # Two orders drifted (one of them canceled since, after its fill), a third is another order's: one
    # `executions_since` from the earlier submission serves both, and the canceled one hears of its fill first.
    later = T0 + timedelta(minutes=5)
    first = snapshot("B1", "c1", OrderStatus.FILLED).model_copy(update={"filled_quantity": Decimal(5)})
    second = snapshot("B2", "c2", OrderStatus.CANCELED).model_copy(
        update={"filled_quantity": Decimal(2), "submitted_at": later, "updated_at": later + timedelta(seconds=9)})
    fills = [fill("E1", "B1", "c1", T0 + timedelta(seconds=20), 5), fill("E2", "B2", "c2", later, 2),
             fill("E3", "B3", "c3", later, 1)]
    gateway = FillsGateway({"B1": first, "B2": second}, fills)
    forwarder = RecordingForwarder(StreamPosition(revision=2))

    async def known_open() -> dict[str, Decimal]:
        return {"B1": Decimal(0), "B2": Decimal(0)}

    runner = StreamRunner(gateway, forwarder, PERIODIC, None, known_open=known_open,  # type: ignore[arg-type]
                          clock=Clock(T0))
    await runner.reconcile()  # the first sight of a drift: maybe a fill on its way, asked about next pass
    assert [(e.kind, e.order.broker_order_id) for e in forwarder.events] == [(TradeEventKind.CANCELED, "B2")]
    forwarder.events.clear()
    await runner.reconcile()
    assert gateway.asked_since == [T0 - timedelta(seconds=30)]  # once, from the earlier submission
    assert [(e.kind, e.execution.execution_id if e.execution else e.order.broker_order_id)
            for e in forwarder.events] == [(TradeEventKind.FILL, "E1"), (TradeEventKind.PARTIAL_FILL, "E2"),
                                           (TradeEventKind.CANCELED, "B2")]
