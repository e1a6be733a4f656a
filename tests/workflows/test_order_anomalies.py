"""Anomalies a running order notices in what the broker tells it: a reused execution id, a status that goes back.

The fake broker lets the test rewrite its own history; the workflow raises each alert once (a recording
sink sees what was stored and published).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio

import alerting
from activities import order_activities
from activities.models import CancelRequest
from domain.broker_integration import OrderStatus
from persistence.repositories.alerts import Alert
from workflows.order_workflow import OrderWorkflow

from .test_order_workflow import World, status_of, wait_for, world

__all__ = ["world"]  # the fixture, shared with the order workflow tests


class RecordingSink:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.sent.append(alert)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.sent]


@pytest_asyncio.fixture(loop_scope="session")
async def sink() -> AsyncIterator[RecordingSink]:
    recording = RecordingSink()
    dispatcher = alerting.AlertDispatcher([recording])
    alerting.configure(dispatcher)
    try:
        yield recording
    finally:
        await dispatcher.drain()
        alerting.configure(None)


async def test_a_reused_execution_id_and_a_shrinking_fill_each_raise_one_alert(
        world: World, sink: RecordingSink) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="99.50")

    async def accepted() -> bool:
        return await status_of(handle) == "ACCEPTED"

    await wait_for(accepted)
    cid = (await handle.query(OrderWorkflow.status)).client_order_id
    snapshot = world.broker.by_client(cid)
    assert snapshot is not None
    bid = snapshot.broker_order_id
    world.broker.fill(bid, 2, price=Decimal("99"))

    async def partially_filled() -> bool:
        return await status_of(handle) == "PARTIALLY_FILLED"

    await wait_for(partially_filled)
    # The broker reports execution X1 again, at another price: not the same fill.
    world.broker.fills[0] = world.broker.fills[0].model_copy(update={"price": Decimal("98")})

    async def raised(kind: str) -> bool:
        await alerting.get_dispatcher().drain()
        return kind in sink.kinds()

    await wait_for(lambda: raised("order_duplicate_execution"))
    # ...and then says nothing of the shares it had filled.
    world.broker.orders[bid] = world.broker.orders[bid].model_copy(
        update={"filled_quantity": Decimal(0), "status": OrderStatus.ACCEPTED})
    await wait_for(lambda: raised("order_status_regression"))

    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest(reason="test"))
    assert result.accepted
    outcome = await handle.result()
    assert outcome.view.status == "CANCELED" and outcome.view.filled_qty == 2  # the recorded fill stands
    await alerting.get_dispatcher().drain()
    assert sorted(sink.kinds()) == ["order_duplicate_execution", "order_status_regression"]
    assert all(a.subject == f"order:{cid}" and a.severity == "CRITICAL" for a in sink.sent)


async def test_a_failing_anomaly_rule_does_not_keep_the_finished_order_open(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def broken_rule(order: object, *_: object, **__: object) -> list[object]:
        calls.append(str(getattr(order, "client_order_id", "")))
        raise ZeroDivisionError("a bug in a rule")

    monkeypatch.setattr(order_activities, "detect_anomalies", broken_rule)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10)
    outcome = await asyncio.wait_for(handle.result(), 30)  # finishes: the rule's failure is not retried forever
    cid = outcome.view.client_order_id
    assert outcome.view.status == "FILLED" and outcome.metrics is None and calls == [cid]
    stored = await world.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED"  # the order and its fill are stored all the same
    assert len(await world.repos.executions.list_for_order(cid)) == 1
