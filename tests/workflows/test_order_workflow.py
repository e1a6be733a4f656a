"""OrderWorkflow on a real Temporal dev server, with the real activities over a scripted broker."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from activities.models import (
    AmendRequest,
    CancelRequest,
    FinishInput,
    OrderOutcome,
    OrderRequest,
    PollInput,
    RecordInput,
    SubmitInput,
    SubmitResult,
)
from activities.order_activities import OrderActivities
from activities.sessions import SessionPool
from domain.broker_integration import (
    BrokerConnection,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    Order,
    OrderSnapshot,
    TradeEvent,
    TradeEventKind,
)
from tests.unit.domain.fakes import (
    FakeClock,
    FakeConnections,
    FakeExecutions,
    FakeFees,
    FakeOrders,
    FakeProvider,
    FakeStatuses,
)
from worker import build_worker
from workflows.order_workflow import OrderWorkflow, order_workflow_id

from .fake_broker import FakeBroker

# BROKERFLOW_HISTORIES_DIR records elsewhere (new recordings are copied in under new names: saved ones stay).
HISTORIES = Path(os.environ.get("BROKERFLOW_HISTORIES_DIR")
                 or Path(__file__).resolve().parents[1] / "resources" / "histories")


@dataclass
class Repos:
    connections: FakeConnections
    accounts: Any
    orders: FakeOrders
    executions: FakeExecutions
    statuses: FakeStatuses
    fees: FakeFees = field(default_factory=lambda: FakeFees())


class FakeAccounts:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    async def get(self, account_id: str) -> Any:
        return self.items.get(account_id)

    async def save(self, account: Any) -> None:
        self.items[account.account_id] = account

    async def list_for_connection(self, connection_id: str) -> list[Any]:
        return [a for a in self.items.values() if a.connection_id == connection_id]


@dataclass
class World:
    env: WorkflowEnvironment
    broker: FakeBroker
    repos: Repos
    task_queue: str
    handles: list[WorkflowHandle[Any, OrderOutcome]] = field(default_factory=list)
    sessions: Any = None

    async def start(self, **fields: Any) -> WorkflowHandle[Any, OrderOutcome]:
        fields.setdefault("client_order_id", f"t-{uuid.uuid4().hex[:10]}")
        fields.setdefault("connection_id", "conn-1")
        fields.setdefault("poll_interval_seconds", 0.2)
        request = OrderRequest(**fields)
        handle = await self.env.client.start_workflow(
            OrderWorkflow.run, request, id=order_workflow_id(request.client_order_id or ""),
            task_queue=self.task_queue,
        )
        self.handles.append(handle)
        return handle


@pytest_asyncio.fixture(loop_scope="session")
async def world(temporal_env: WorkflowEnvironment, task_queue: str, request: pytest.FixtureRequest
                ) -> AsyncIterator[World]:
    broker = FakeBroker()
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    await repos.connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await repos.connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret="s"))
    worker, sessions = build_worker(temporal_env.client, repos, FakeProvider(broker), FakeClock(), task_queue)
    async with worker:
        world = World(temporal_env, broker, repos, task_queue, sessions=sessions)
        yield world
        if os.environ.get("BROKERFLOW_RECORD_HISTORIES"):
            await save_histories(world, request.node.name)


async def save_histories(world: World, test_name: str) -> None:
    """Keep each finished workflow's history for the replay test (run with BROKERFLOW_RECORD_HISTORIES=1)."""
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for index, handle in enumerate(world.handles):
        if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
            continue
        history = await handle.fetch_history()
        name = re.sub(r"[^A-Za-z0-9_]+", "_", test_name).strip("_")
        (HISTORIES / f"{name}_{index}.json").write_text(await _decoded(world, history.to_json()))


async def _decoded(world: World, text: str) -> str:
    """The history with its payloads decrypted: the replay test has no codec key (each test run makes one)."""
    codec = world.env.client.data_converter.payload_codec
    if codec is None:
        return text

    async def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [await walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            (payload,) = await codec.decode([json_format.ParseDict(node, Payload())])
            return json_format.MessageToDict(payload)
        return {key: await walk(value) for key, value in node.items()}

    return json.dumps(await walk(json.loads(text)), indent=2)


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def status_of(handle: WorkflowHandle[Any, Any]) -> str:
    return (await handle.query(OrderWorkflow.status)).status


async def test_market_order_fills_and_is_recorded_once(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10)
    outcome = await handle.result()
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    assert outcome.view.avg_fill_price == Decimal("100") and outcome.view.fees == Decimal("0.01")
    cid = outcome.view.client_order_id
    assert [o.client_order_id for o in world.broker.received] == [cid]
    stored = await world.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED"
    assert len(await world.repos.executions.list_for_order(cid)) == 1
    history = [u.status for u in await world.repos.statuses.history(cid)]
    assert history == ["SUBMITTED", "ACCEPTED", "FILLED"]


# docs/benchmarks.md, section 4: a simple filled market order within 25 history events (issue 10).
MAX_EVENTS_SIMPLE_MARKET_ORDER = 25


async def test_a_filled_market_order_stays_within_the_history_budget(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1)
    outcome = await handle.result()
    assert outcome.view.status == "FILLED" and outcome.metrics is not None
    history = await handle.fetch_history()
    kinds = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_") for e in history.events]
    assert len(kinds) <= MAX_EVENTS_SIMPLE_MARKET_ORDER, (len(kinds), kinds, activity_types(history))
    # What the folds keep: SUBMITTED stored by submit_order before the broker call, one last look, the outcome.
    assert activity_types(history) == ["prepare_order", "submit_order", "poll_order", "finish_order"]
    cid = outcome.view.client_order_id
    assert [u.status for u in await world.repos.statuses.history(cid)] == ["SUBMITTED", "ACCEPTED", "FILLED"]
    assert len(await world.repos.executions.list_for_order(cid)) == 1


@pytest.mark.parametrize(
    "fields",
    [
        dict(order_type="LIMIT", limit_price="99.50"),
        dict(order_type="STOP", stop_price="101"),
        dict(order_type="STOP_LIMIT", stop_price="101", limit_price="102"),
        dict(order_type="TRAILING_STOP", trail_percent="1.5"),
        dict(order_type="LIMIT", limit_price="99", time_in_force="GTC"),
    ],
)
async def test_resting_order_types_fill_in_parts(world: World, fields: dict[str, Any]) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, **fields)
    await wait_for(lambda: _accepted(world, handle))
    bid = world.broker.by_client(handle.id.removeprefix("order-")).broker_order_id  # type: ignore[union-attr]
    world.broker.fill(bid, 4, Decimal("99"))
    await wait_for(lambda: _is(handle, "PARTIALLY_FILLED"))
    world.broker.fill(bid, 6, Decimal("99.5"))
    outcome = await handle.result()
    assert outcome.view.status == "FILLED" and outcome.view.avg_fill_price == Decimal("99.3")
    assert len(await handle.query(OrderWorkflow.executions)) == 2


async def _accepted(world: World, handle: WorkflowHandle[Any, Any]) -> bool:
    return world.broker.by_client(handle.id.removeprefix("order-")) is not None and await status_of(handle) in (
        "ACCEPTED", "PARTIALLY_FILLED")


async def _is(handle: WorkflowHandle[Any, Any], status: str) -> bool:
    return await status_of(handle) == status


async def test_starting_the_same_order_twice_is_one_order(world: World) -> None:
    handle = await world.start(client_order_id="same-1", symbol="AAPL", side="BUY", quantity=1,
                               order_type="LIMIT", limit_price="90")
    from temporalio.common import WorkflowIDConflictPolicy

    again = await world.env.client.start_workflow(
        OrderWorkflow.run, OrderRequest(client_order_id="same-1", symbol="AAPL", side="BUY", quantity=1,
                                        order_type="LIMIT", limit_price="90", connection_id="conn-1"),
        id=handle.id, task_queue=world.task_queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    assert again.result_run_id == handle.result_run_id
    await wait_for(lambda: _accepted(world, handle))
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    await handle.result()
    assert [o.client_order_id for o in world.broker.received] == ["same-1"]


async def test_cancel_accepted_then_rejected_when_terminal(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest(reason="user"))
    assert result.accepted and result.status == "CANCELED"
    outcome = await handle.result()
    assert outcome.view.status == "CANCELED"
    history = [u.status for u in await world.repos.statuses.history(outcome.view.client_order_id)]
    assert history == ["SUBMITTED", "ACCEPTED", "PENDING_CANCEL", "CANCELED"]


async def test_cancel_refused_by_broker_returns_to_previous_state(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    world.broker.refuse_cancel = True
    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert not result.accepted and result.status == "ACCEPTED"
    world.broker.refuse_cancel = False
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert (await handle.result()).view.status == "CANCELED"


async def test_partial_fills_then_cancel_then_a_late_fill(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    cid = handle.id.removeprefix("order-")
    bid = world.broker.by_client(cid).broker_order_id  # type: ignore[union-attr]
    world.broker.fill(bid, 3)
    await wait_for(lambda: _is(handle, "PARTIALLY_FILLED"))
    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert result.accepted
    world.broker.fill(bid, 2)  # arrives after the cancel
    outcome = await handle.result()
    assert outcome.view.status == "CANCELED"
    assert outcome.view.filled_qty == 5
    assert len(await world.repos.executions.list_for_order(cid)) == 2


async def test_amend_accepted_and_validator_rejections(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    cid = handle.id.removeprefix("order-")
    world.broker.fill(world.broker.by_client(cid).broker_order_id, 4)  # type: ignore[union-attr]
    await wait_for(lambda: _is(handle, "PARTIALLY_FILLED"))
    for bad in (AmendRequest(quantity=Decimal("3")), AmendRequest(stop_price=Decimal("5")),
                AmendRequest(limit_price=Decimal("-1")), AmendRequest()):
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(OrderWorkflow.amend, bad)
    result = await handle.execute_update(OrderWorkflow.amend, AmendRequest(quantity=Decimal("12"),
                                                                           limit_price=Decimal("91")),
                                         id="amend-1")
    assert result.accepted and result.status == "PARTIALLY_FILLED"
    again = await handle.execute_update(OrderWorkflow.amend, AmendRequest(quantity=Decimal("12")), id="amend-1")
    assert again == result
    view = await handle.query(OrderWorkflow.status)
    assert view.quantity == 12 and view.remaining_qty == 8
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    outcome = await handle.result()
    assert outcome.view.status == "CANCELED"
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):
        await handle.execute_update(OrderWorkflow.cancel, CancelRequest())


async def test_pre_trade_rejection_never_reaches_the_broker(world: World) -> None:
    handle = await world.start(symbol="MSFT", side="SELL", quantity=51)
    outcome = await handle.result()
    assert outcome.view.status == "REJECTED" and "INSUFFICIENT_POSITION" in (outcome.view.reason or "")
    assert world.broker.received == []


async def test_ambiguous_submit_is_resolved_by_lookup(world: World) -> None:
    world.broker.drop_next_response = True
    handle = await world.start(symbol="AAPL", side="BUY", quantity=5, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    assert len(world.broker.received) == 1
    assert world.broker.submit_calls == 1  # the retry looked the order up; it did not resend it
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    await handle.result()


async def test_long_gtc_order_continues_as_new_without_losing_state(world: World) -> None:
    from workflows.state import OrderWorkflowInput

    request = OrderWorkflowInput(client_order_id=f"gtc-{uuid.uuid4().hex[:8]}", symbol="AAPL", side="BUY",
                                 quantity=10, order_type="LIMIT", limit_price="90", time_in_force="GTC",
                                 connection_id="conn-1", poll_interval_seconds=0.05, continue_as_new_after=3)
    handle = await world.env.client.start_workflow(OrderWorkflow.run, request, id=order_workflow_id(
        request.client_order_id or ""), task_queue=world.task_queue)
    await wait_for(lambda: _accepted(world, handle))
    cid = request.client_order_id or ""
    bid = world.broker.by_client(cid).broker_order_id  # type: ignore[union-attr]
    world.broker.fill(bid, 2)
    first = await handle.execute_update(OrderWorkflow.amend, AmendRequest(limit_price=Decimal("91")), id="a-1")
    run_before = (await handle.describe()).run_id
    await wait_for(lambda: _new_run(handle, run_before), timeout=20)
    await wait_for(lambda: _new_run(handle, (run_before or "")), timeout=20)
    # The same update id after continue-as-new is still one change.
    again = await handle.execute_update(OrderWorkflow.amend, AmendRequest(limit_price=Decimal("91")), id="a-1")
    assert again == first and len(world.broker.received) == 1
    world.broker.fill(world.broker.by_client(cid + "-r").broker_order_id, 8)  # type: ignore[union-attr]
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10 and outcome.executions == 2
    assert len(await world.repos.executions.list_for_order(cid)) == 2
    assert [u.status for u in await world.repos.statuses.history(cid)][-1] == "FILLED"


async def _new_run(handle: WorkflowHandle[Any, Any], run_id: str | None) -> bool:
    return (await handle.describe()).run_id != run_id


async def test_an_order_started_from_outside_python_with_the_temporal_cli(world: World) -> None:
    """What a Go/Java/shell caller does: `temporal workflow start` with the JSON of schemas/order_request."""
    import json
    import subprocess

    from tests.conftest import temporal_binary

    cid = f"cli-{uuid.uuid4().hex[:8]}"
    payload = {"client_order_id": cid, "symbol": "aapl", "side": "buy", "quantity": "3", "order_type": "market",
               "connection_id": "conn-1", "poll_interval_seconds": 0.2}
    command = [temporal_binary("temporal"), "workflow", "start", "--address",
               world.env.client.service_client.config.target_host, "--task-queue", world.task_queue,
               "--type", "OrderWorkflow", "--workflow-id", order_workflow_id(cid), "--input", json.dumps(payload),
               "--id-conflict-policy", "UseExisting"]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    outcome = await asyncio.wait_for(world.env.client.get_workflow_handle_for(
        OrderWorkflow.run, order_workflow_id(cid)).result(), 30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 3 and outcome.view.symbol == "AAPL"


async def test_fees_charged_as_their_own_records_are_added_once(world: World) -> None:
    handle = await world.start(symbol="MSFT", side="SELL", quantity=5)
    outcome = await handle.result()
    assert outcome.view.status == "FILLED"
    assert outcome.view.fees == Decimal("0.04")  # 0.01 on the execution + 0.03 SEC fee
    cid = outcome.view.client_order_id
    assert [f.kind for f in await world.repos.fees.list_for_order(cid)] == ["SEC_FEE"]


async def test_unknown_connection_ends_rejected_with_the_reason(world: World) -> None:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1, connection_id="no-such-connection")
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "REJECTED" and "no-such-connection" in (outcome.view.reason or "")
    assert world.broker.received == []


async def test_account_unreadable_ends_rejected_not_failed(world: World) -> None:
    from domain.broker_integration import BrokerRejectedError

    async def refuse(account_number: str | None = None) -> Any:
        raise BrokerRejectedError("account blocked", status_code=403)

    world.broker.get_account = refuse  # type: ignore[method-assign]
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1)
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "REJECTED" and "account blocked" in (outcome.view.reason or "")
    assert world.broker.received == []


async def _trip(world: World, connection_id: str = "conn-1") -> None:
    from domain.broker_integration import ConnectionStatus

    connection = await world.repos.connections.get(connection_id)
    assert connection is not None
    connection.status = ConnectionStatus.CONNECTED
    connection.authenticated_at = world.broker.now()
    for _ in range(3):
        connection.record_failure(world.broker.now(), "broker down", max_failures=3)
    assert connection.status is ConnectionStatus.FAILED
    await world.repos.connections.save(connection)


async def test_orders_wait_bounded_for_an_open_circuit_then_end_rejected(world: World) -> None:
    await _trip(world)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1, session_wait_seconds=1)
    outcome = await asyncio.wait_for(handle.result(), 60)
    assert outcome.view.status == "REJECTED" and "circuit open" in (outcome.view.reason or "")
    assert world.broker.received == []


async def test_an_order_waiting_for_the_connection_goes_on_when_it_recovers(world: World) -> None:
    await _trip(world)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1, session_wait_seconds=60)
    await asyncio.sleep(4)
    connection = await world.repos.connections.get("conn-1")
    assert connection is not None
    connection.heartbeat(world.broker.now())
    connection.status = "CONNECTED"  # the supervisor's verdict after a successful check
    await world.repos.connections.save(connection)
    outcome = await asyncio.wait_for(handle.result(), 60)
    assert outcome.view.status == "FILLED" and len(world.broker.received) == 1


async def test_a_cancel_before_submission_means_the_order_is_never_sent(world: World) -> None:
    await _trip(world)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=1, session_wait_seconds=120)
    await asyncio.sleep(1)
    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest(reason="changed my mind"))
    assert result.accepted and result.status == "CANCELED"
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "CANCELED" and world.broker.received == []
    stored = await world.repos.orders.get(outcome.view.client_order_id)
    assert stored is not None and stored.status == "CANCELED"


async def test_a_client_order_id_taken_by_another_order_is_a_clear_rejection(world: World) -> None:
    first = await world.start(client_order_id="taken-1", symbol="AAPL", side="BUY", quantity=5)
    await asyncio.wait_for(first.result(), 30)
    # Another workflow (say, after the Temporal database was wiped) sends a different order under the same id.
    request = OrderRequest(client_order_id="taken-1", symbol="MSFT", side="BUY", quantity=7, connection_id="conn-1",
                           poll_interval_seconds=0.2)
    second = await world.env.client.start_workflow(OrderWorkflow.run, request, id="order-taken-1-again",
                                                   task_queue=world.task_queue)
    outcome = await asyncio.wait_for(second.result(), 30)
    assert outcome.view.status == "REJECTED" and "already used at the broker" in (outcome.view.reason or "")
    assert [(o.symbol, o.quantity) for o in world.broker.received] == [("AAPL", Decimal("5"))]


async def _resting(world: World, quantity: int = 10) -> tuple[WorkflowHandle[Any, OrderOutcome], str, str]:
    handle = await world.start(symbol="AAPL", side="BUY", quantity=quantity, order_type="LIMIT", limit_price="90")
    await wait_for(lambda: _accepted(world, handle))
    cid = handle.id.removeprefix("order-")
    return handle, cid, world.broker.by_client(cid).broker_order_id  # type: ignore[union-attr]


async def test_amend_with_a_lost_answer_ends_tracking_the_replacement(world: World) -> None:
    handle, cid, old = await _resting(world)
    world.broker.fill(old, 2)
    await wait_for(lambda: _is(handle, "PARTIALLY_FILLED"))
    world.broker.drop_replace_response = True
    result = await handle.execute_update(OrderWorkflow.amend, AmendRequest(quantity=Decimal("12")))
    [(replaced, new)] = world.broker.replaces  # the broker saw exactly one replace
    assert replaced == old and result.accepted and result.broker_order_id == new
    view = await handle.query(OrderWorkflow.status)
    assert view.status == "PARTIALLY_FILLED" and view.quantity == 12 and view.broker_order_id == new
    world.broker.fill(new, 3)
    await wait_for(lambda: _filled(handle, 5))
    assert (await handle.execute_update(OrderWorkflow.cancel, CancelRequest())).accepted
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "CANCELED" and outcome.view.filled_qty == 5 and outcome.executions == 2
    assert world.broker.orders[new].status == "CANCELED" and len(world.broker.replaces) == 1
    assert len(await world.repos.executions.list_for_order(cid)) == 2


async def _filled(handle: WorkflowHandle[Any, Any], quantity: int) -> bool:
    return (await handle.query(OrderWorkflow.status)).filled_qty == quantity


async def test_amend_that_never_reached_the_broker_is_resolved_as_not_applied(world: World) -> None:
    handle, _, old = await _resting(world)
    world.broker.replace_unreachable = True
    result = await handle.execute_update(OrderWorkflow.amend, AmendRequest(limit_price=Decimal("91")))
    assert not result.accepted and result.status == "ACCEPTED" and "not applied" in result.message
    assert world.broker.replaces == [] and (await handle.query(OrderWorkflow.status)).broker_order_id == old
    world.broker.replace_unreachable = False
    again = await handle.execute_update(OrderWorkflow.amend, AmendRequest(limit_price=Decimal("91")))
    assert again.accepted and len(world.broker.replaces) == 1
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert (await asyncio.wait_for(handle.result(), 30)).view.status == "CANCELED"


async def test_a_replace_done_outside_brokerflow_is_followed(world: World) -> None:
    from domain.broker_integration import OrderAmendment

    handle, cid, old = await _resting(world)
    world.broker.fill(old, 1)
    await wait_for(lambda: _is(handle, "PARTIALLY_FILLED"))
    new = (await world.broker.replace_order(old, OrderAmendment(quantity=Decimal("6"),
                                                                limit_price=Decimal("92")))).broker_order_id

    async def follows() -> bool:
        return (await handle.query(OrderWorkflow.status)).broker_order_id == new

    await wait_for(follows)
    view = await handle.query(OrderWorkflow.status)
    assert view.quantity == 6 and view.status == "PARTIALLY_FILLED"
    world.broker.fill(new, 5)
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 6
    history = [u.status for u in await world.repos.statuses.history(cid)]
    assert history[-3:] == ["PENDING_UPDATE", "PARTIALLY_FILLED", "FILLED"]


async def test_amend_refused_by_the_broker_returns_to_the_previous_status(world: World) -> None:
    from domain.broker_integration import BrokerRejectedError

    handle, _, old = await _resting(world)

    async def refuse(broker_order_id: str, amendment: Any) -> Any:
        raise BrokerRejectedError("price outside the band", status_code=422)

    world.broker.replace_order = refuse  # type: ignore[method-assign]
    result = await handle.execute_update(OrderWorkflow.amend, AmendRequest(limit_price=Decimal("50")))
    assert not result.accepted and result.status == "ACCEPTED" and "refused" in result.message
    assert (await handle.query(OrderWorkflow.status)).broker_order_id == old
    await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert (await asyncio.wait_for(handle.result(), 30)).view.status == "CANCELED"


# ---- polling while the connection's trade stream is healthy (issue 10) ----------------------------------


class StreamHealth:
    """A stand-in for the supervisor's answer: the test says whether the stream is healthy."""

    def __init__(self, healthy: bool) -> None:
        self.healthy = healthy

    async def __call__(self, connection_id: str) -> bool:
        return self.healthy


def _stream(world: World, healthy: bool) -> StreamHealth:
    probe = StreamHealth(healthy)
    world.sessions.stream_probe = probe
    world.sessions.stream_health_ttl_seconds = 0.0
    return probe


def activity_types(history: WorkflowHistory) -> list[str]:
    """The activities of a history in order: scheduled ones and local ones (one marker each)."""
    types = []
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            types.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.HasField("marker_recorded_event_attributes") and "data" in e.marker_recorded_event_attributes.details:
            data = json.loads(e.marker_recorded_event_attributes.details["data"].payloads[0].data)
            if "activity_type" in data:
                types.append(data["activity_type"])
    return types


async def _polls(handle: WorkflowHandle[Any, Any]) -> int:
    """Polls of the order, remote or local; the last look of finish_order (patch fold-records) included."""
    types = activity_types(await handle.fetch_history())
    return sum(1 for t in types if t in ("poll_order", "finish_order"))


async def test_a_resting_order_polls_slowly_while_the_stream_is_healthy_and_fast_when_not(world: World) -> None:
    probe = _stream(world, healthy=True)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=10, order_type="LIMIT", limit_price="90",
                               safety_poll_seconds=4)
    await wait_for(lambda: _accepted(world, handle))
    await wait_for(lambda: _polls_at_least(handle, 1))
    quiet = await _polls(handle)
    await asyncio.sleep(2.5)
    assert await _polls(handle) == quiet, "a healthy stream: no poll before the safety interval"
    probe.healthy = False
    # The pending safety poll finds the stream down: polling speeds back up (0.2 s doubling).
    await wait_for(lambda: _polls_at_least(handle, quiet + 4), timeout=10.0)
    bid = world.broker.by_client(handle.id.removeprefix("order-")).broker_order_id  # type: ignore[union-attr]
    world.broker.fill(bid, 10)
    outcome = await handle.result()
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    assert len(await world.repos.executions.list_for_order(handle.id.removeprefix("order-"))) == 1


async def _polls_at_least(handle: WorkflowHandle[Any, Any], count: int) -> bool:
    return await _polls(handle) >= count


async def test_a_complete_fill_from_the_stream_ends_with_one_last_look(world: World) -> None:
    _stream(world, healthy=True)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=5, order_type="LIMIT", limit_price="90",
                               safety_poll_seconds=600)
    await wait_for(lambda: _accepted(world, handle))
    await wait_for(lambda: _polls_at_least(handle, 1))
    polls = await _polls(handle)
    cid = handle.id.removeprefix("order-")
    bid = world.broker.by_client(cid).broker_order_id  # type: ignore[union-attr]
    report = world.broker.fill(bid, 5, Decimal("90"))
    snapshot = await world.broker.get_order(bid)
    event = TradeEvent(kind=TradeEventKind.FILL, order=snapshot, occurred_at=report.executed_at,
                       execution=report.model_copy(update={"cumulative_quantity": Decimal(5)}))
    await handle.signal(OrderWorkflow.trade_event, event)
    outcome = await handle.result()
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 5
    # One last look after the fill: it collects the fees the broker posts as their own records.
    assert await _polls(handle) == polls + 1
    assert len(await world.repos.executions.list_for_order(cid)) == 1
    history = await handle.fetch_history()
    ours = [e for e in history.events if e.HasField("upsert_workflow_search_attributes_event_attributes")
            and "OrderStatus" in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields]
    assert len(ours) == 3  # SUBMITTED (with the static attributes), ACCEPTED, FILLED: once each


async def test_a_cancel_the_stream_never_confirms_is_confirmed_by_polling(world: World) -> None:
    """The broker takes the cancel and ends the order later; its event is lost (say, with a killed worker).
    A healthy stream must not leave the order PENDING_CANCEL until the safety poll (found by `make chaos`)."""
    from domain.broker_integration import OrderStatus

    _stream(world, healthy=True)
    handle = await world.start(symbol="AAPL", side="BUY", quantity=5, order_type="LIMIT", limit_price="90",
                               safety_poll_seconds=600, poll_interval_seconds=0.5)
    await wait_for(lambda: _accepted(world, handle))
    await wait_for(lambda: _polls_at_least(handle, 1))  # the first poll learns the stream is healthy
    cid = handle.id.removeprefix("order-")
    bid = world.broker.by_client(cid).broker_order_id  # type: ignore[union-attr]

    async def pending_cancel(broker_order_id: str) -> None:  # accepted: the broker cancels a moment later
        world.broker.orders[broker_order_id] = world.broker.orders[broker_order_id].model_copy(
            update={"status": OrderStatus.PENDING_CANCEL})

    world.broker.cancel_order = pending_cancel  # type: ignore[method-assign]
    result = await handle.execute_update(OrderWorkflow.cancel, CancelRequest())
    assert result.accepted and result.status == "PENDING_CANCEL"
    world.broker.orders[bid] = world.broker.orders[bid].model_copy(update={"status": OrderStatus.CANCELED})
    outcome = await asyncio.wait_for(handle.result(), 20)  # not the 600 s safety poll
    assert outcome.view.status == "CANCELED"
    stored = await world.repos.orders.get(cid)
    assert stored is not None and stored.status == OrderStatus.CANCELED


async def test_a_fill_the_workflows_own_worker_cannot_see_is_found_by_a_poll_on_any_worker(world: World) -> None:
    """Patch `fold-records` polls in local activities, on the workflow's worker only. A worker whose session
    cannot see the order (an account left out of its session pool after a failed login) failed every poll
    and the poll after a refused cancel: the fill was never recorded (likely what `make chaos` hit). After a
    failed local poll the next poll is a remote activity, which any worker may run."""
    from temporalio import activity

    from domain.broker_integration import BrokerOrderNotFoundError

    real_get_order = world.broker.get_order

    async def blind_here(broker_order_id: str) -> Any:
        if activity.in_activity() and activity.info().is_local:
            raise BrokerOrderNotFoundError(f"order {broker_order_id} not found")
        return await real_get_order(broker_order_id)

    handle, cid, bid = await _resting(world)
    world.broker.get_order = blind_here  # type: ignore[method-assign]
    world.broker.fill(bid, 10, Decimal("90"))  # its stream event is lost
    outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 10
    assert len(await world.repos.executions.list_for_order(cid)) == 1
    stored = await world.repos.orders.get(cid)
    assert stored is not None and stored.status == "FILLED"
    assert "poll_order" in [e.activity_task_scheduled_event_attributes.activity_type.name
                            for e in (await handle.fetch_history()).events
                            if e.HasField("activity_task_scheduled_event_attributes")]


class _SubmitBeforeFoldRecords(OrderActivities):
    """`submit_order` as a worker from before `fold-records` runs it: it knows no `record`, so it sends the
    order, stores nothing and answers the bare snapshot (a rolling deploy mixes such workers in)."""

    @activity.defn(name="submit_order")
    async def submit_order(self, request: SubmitInput) -> OrderSnapshot | SubmitResult:  # type: ignore[override]
        return await super().submit_order(SubmitInput(order=request.order))


async def test_an_older_workers_submit_answer_is_applied_and_stored(temporal_env: WorkflowEnvironment,
                                                                    task_queue: str) -> None:
    broker = FakeBroker()
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    await repos.connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await repos.connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret="s"))
    sessions = SessionPool(repos.connections, FakeProvider(broker), FakeClock())
    old = _SubmitBeforeFoldRecords(repos, sessions)
    async with Worker(temporal_env.client, task_queue=task_queue, workflows=[OrderWorkflow],
                      activities=old.methods()):
        world = World(temporal_env, broker, repos, task_queue, sessions=sessions)
        handle = await world.start(symbol="AAPL", side="BUY", quantity=3)
        # Before the fix the answer could not be read as a SubmitResult: the workflow task failed for good.
        outcome = await asyncio.wait_for(handle.result(), 30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 3
    cid = outcome.view.client_order_id
    assert [u.status for u in await repos.statuses.history(cid)] == ["SUBMITTED", "ACCEPTED", "FILLED"]
    assert len(await repos.executions.list_for_order(cid)) == 1
    assert [o.client_order_id for o in broker.received].count(cid) == 1  # sent once


class _SlowOrders(FakeOrders):
    """PostgreSQL restarting: storing the order takes a while."""

    async def save(self, order: Any) -> None:
        await asyncio.sleep(0.3)
        await super().save(order)


async def test_an_attempt_whose_store_took_a_third_of_its_timeout_does_not_send() -> None:
    broker = FakeBroker()
    repos = Repos(FakeConnections(), FakeAccounts(), _SlowOrders(), FakeExecutions(), FakeStatuses())
    await repos.connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await repos.connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret="s"))
    activities = OrderActivities(repos, SessionPool(repos.connections, FakeProvider(broker), FakeClock()))
    order = BrokerOrder(client_order_id="slow-1", symbol="AAPL", side="BUY", quantity=Decimal(1),
                        order_type="MARKET", connection_id="conn-1")
    record = RecordInput(order=Order.create(order, datetime.now(UTC)))
    first = ActivityEnvironment()
    first.info = dataclasses.replace(first.info, start_to_close_timeout=timedelta(seconds=0.4))
    with pytest.raises(ApplicationError, match="stored but not sent"):
        await first.run(activities.submit_order, SubmitInput(order=order, record=record))
    assert broker.received == [] and await repos.orders.get("slow-1") is not None  # stored, not sent
    second = ActivityEnvironment()
    second.info = dataclasses.replace(second.info, attempt=2, start_to_close_timeout=timedelta(seconds=10))
    answer = await second.run(activities.submit_order, SubmitInput(order=order, record=record))
    assert isinstance(answer, SubmitResult) and [o.client_order_id for o in broker.received] == ["slow-1"]


class _CountingBroker(FakeBroker):
    """Counts the times the executions were asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked_for_executions = 0

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        self.asked_for_executions += 1
        return await super().executions_since(since)


async def _finish(broker: _CountingBroker, order: Order, bid: str) -> Any:
    """finish_order of `order` with one last look, as the workflow asks for it."""
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    await repos.connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await repos.connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret="s"))
    sessions = SessionPool(repos.connections, FakeProvider(broker), FakeClock())

    async def unhealthy(connection_id: str) -> bool:
        return False

    sessions.stream_probe = unhealthy
    poll = PollInput(connection_id="conn-1", client_order_id=order.client_order_id, broker_order_ids=[bid],
                     since=datetime.now(UTC) - timedelta(minutes=1))
    request = FinishInput(record=RecordInput(order=order), poll=poll)
    return await ActivityEnvironment().run(OrderActivities(repos, sessions).finish_order, request)


async def test_the_last_look_at_a_completely_filled_order_asks_for_its_fees_not_its_executions() -> None:
    broker = _CountingBroker()
    request = BrokerOrder(client_order_id="look-1", symbol="AAPL", side="SELL", quantity=Decimal(2),
                          order_type="MARKET", connection_id="conn-1")
    snapshot = await broker.submit_order(request)  # filled at once; its SEC fee is posted as its own record
    now = datetime.now(UTC)
    order = Order.create(request, now)
    order.submit(now)
    order.accept(snapshot.broker_order_id, now)
    for report in broker.fills:
        order.apply_execution(report)
    assert order.status == "FILLED"
    result = await _finish(broker, order, snapshot.broker_order_id)
    assert broker.asked_for_executions == 0  # no fill can be missing: none was asked for
    assert result.poll is not None and [fee.fee_id for fee in result.poll.fees] == ["F1"]
    assert result.outcome is None  # the fee is news: the workflow applies it, then records the outcome


async def test_the_last_look_at_a_canceled_order_still_asks_for_its_executions() -> None:
    broker = _CountingBroker()
    broker.auto_fill_market = False
    request = BrokerOrder(client_order_id="look-2", symbol="AAPL", side="BUY", quantity=Decimal(5),
                          order_type="LIMIT", price=Decimal("100"), connection_id="conn-1")
    snapshot = await broker.submit_order(request)
    now = datetime.now(UTC)
    order = Order.create(request, now)
    order.submit(now)
    order.accept(snapshot.broker_order_id, now)
    order.apply_execution(broker.fill(snapshot.broker_order_id, 2))
    order.cancel(now)
    late = broker.fill(snapshot.broker_order_id, 1)  # a fill racing the cancel: the workflow never saw it
    result = await _finish(broker, order, snapshot.broker_order_id)
    assert broker.asked_for_executions == 1
    assert result.poll is not None and [r.execution_id for r in result.poll.executions] == ["X1", late.execution_id]
    assert result.outcome is None


async def test_the_worker_keeps_ten_thousand_workflows_in_its_cache(temporal_env: WorkflowEnvironment) -> None:
    """Past the cache every wake-up of an evicted resting order replays its history (issue 10)."""
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    provider, clock = FakeProvider(FakeBroker()), FakeClock()
    worker, _ = build_worker(temporal_env.client, repos, provider, clock, "cache-default")
    assert worker.config()["max_cached_workflows"] == 10_000
    worker, _ = build_worker(temporal_env.client, repos, provider, clock, "cache-set", max_cached_workflows=50)
    assert worker.config()["max_cached_workflows"] == 50
