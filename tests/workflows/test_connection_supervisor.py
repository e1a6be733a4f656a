"""ConnectionSupervisorWorkflow on a real Temporal dev server, with the real activities over a scripted broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.auth_plugins import AuthPlugins
from activities.connection_activities import ConnectionActivities, alert_subject
from activities.connection_models import ConnectionHealth, SupervisorConfig
from activities.sessions import SessionPool
from domain.broker_integration import BrokerConnection, ConnectionCredentials, ConnectionNotReadyError
from persistence.repositories.alerts import InMemoryAlertRepository
from persistence.repositories.connection_health import ConnectionStores, InMemoryHealthSamples
from starter.connections import ConnectionChangeRejectedError, ConnectionClient
from tests.unit.domain.fakes import (
    FakeClock,
    FakeConnections,
    FakeExecutions,
    FakeFees,
    FakeOrders,
    FakeProvider,
    FakeStatuses,
)
from workflows.connection_supervisor import ConnectionSupervisorWorkflow

from .supervisor_fakes import FakeKeepAlive, FakeRefresher, StandInOrderWorkflow, StreamBroker

FAST = SupervisorConfig(health_interval_seconds=0.1, check_timeout_seconds=5, error_window=4,
                        degraded_error_rate=0.25, fail_after=3, reconnect_initial_seconds=0.1,
                        reconnect_max_seconds=0.5, refresh_before_seconds=1, keepalive_interval_seconds=0.2,
                        position_signal_seconds=0.1, stream_heartbeat_seconds=5)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Rig:
    env: WorkflowEnvironment
    broker: StreamBroker
    connections: FakeConnections
    alerts: InMemoryAlertRepository
    samples: InMemoryHealthSamples
    plugins: AuthPlugins
    sessions: SessionPool
    client: ConnectionClient
    task_queue: str
    connection_id: str = "conn-1"
    repos: Any = None

    async def health(self) -> ConnectionHealth:
        return await self.client.health(self.connection_id)

    async def until(self, predicate: Callable[[ConnectionHealth], bool], timeout: float = 15) -> ConnectionHealth:
        health = await self.health()
        for _ in range(int(timeout / 0.05)):
            if predicate(health):
                return health
            await asyncio.sleep(0.05)
            health = await self.health()
        raise AssertionError(f"condition not met; health: {health}")

    async def open_alerts(self) -> set[str]:
        return {a.kind for a in await self.alerts.list_open(alert_subject(self.connection_id))}

    async def alerts_become(self, check: Callable[[set[str]], bool]) -> None:
        for _ in range(200):
            if check(await self.open_alerts()):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"open alerts: {await self.open_alerts()}")

    async def stored(self) -> BrokerConnection:
        found = await self.connections.get(self.connection_id)
        assert found is not None
        return found

    async def order(self, client_order_id: str) -> Any:
        return await self.env.client.start_workflow(StandInOrderWorkflow.run, id=f"order-{client_order_id}",
                                                    task_queue=self.task_queue)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@dataclass
class Repos:
    connections: FakeConnections
    accounts: Any = None
    orders: FakeOrders = field(default_factory=FakeOrders)
    executions: FakeExecutions = field(default_factory=FakeExecutions)
    fees: FakeFees = field(default_factory=FakeFees)
    statuses: FakeStatuses = field(default_factory=FakeStatuses)


@pytest_asyncio.fixture(loop_scope="session")
async def rig(temporal_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Rig]:
    broker = StreamBroker()
    connections = FakeConnections()
    await connections.save(BrokerConnection(connection_id="conn-1", broker="fakebroker"))
    await connections.save_credentials("conn-1", ConnectionCredentials(api_key="k", api_secret=SecretStr("s")))
    sessions = SessionPool(connections, FakeProvider(broker), FakeClock())
    sessions.clock = SystemClock()
    stores = ConnectionStores(InMemoryAlertRepository(), InMemoryHealthSamples())
    plugins = AuthPlugins()
    repos = Repos(connections)
    activities = ConnectionActivities(repos, sessions, stores, plugins)
    worker = Worker(temporal_env.client, task_queue=task_queue, activities=activities.methods(),
                    workflows=[ConnectionSupervisorWorkflow, StandInOrderWorkflow])
    async with worker:
        client = ConnectionClient(temporal_env.client, task_queue)
        assert isinstance(stores.alerts, InMemoryAlertRepository)
        assert isinstance(stores.samples, InMemoryHealthSamples)
        rig = Rig(temporal_env, broker, connections, stores.alerts, stores.samples, plugins, sessions, client,
                  task_queue)
        rig.repos = repos
        yield rig
        with contextlib.suppress(Exception):  # the test may have stopped it already
            await client.down("conn-1", wait=10)


async def test_connects_checks_and_records_health(rig: Rig) -> None:
    await rig.client.up("conn-1", FAST)
    health = await rig.until(lambda h: h.status == "CONNECTED" and h.metrics.checks >= 3 and h.stream_running)
    assert health.metrics.last_latency_ms is not None and health.error_rate == 0
    stored = await rig.stored()
    assert stored.status == "CONNECTED" and stored.last_heartbeat_at is not None
    # The query counts a check before its record_status activity has stored the sample: wait for the third.
    for _ in range(100):
        if len(await rig.samples.recent("conn-1")) >= 3:
            break
        await asyncio.sleep(0.1)
    assert len(await rig.samples.recent("conn-1")) >= 3
    description = await rig.client.handle("conn-1").describe()
    assert description.typed_search_attributes  # ConnectionStatus is indexed
    assert "CONNECTED" in str(description.typed_search_attributes)
    assert await rig.client.up("conn-1", FAST) == "connection-conn-1"  # up twice is one supervisor


async def test_errors_degrade_then_trip_the_breaker_then_recover(rig: Rig) -> None:
    await rig.client.up("conn-1", FAST)
    await rig.until(lambda h: h.status == "CONNECTED")
    await rig.sessions.gateway("conn-1")  # the order path has a session
    rig.broker.healthy = False
    await rig.until(lambda h: h.status == "DEGRADED")
    await rig.alerts_become(lambda open_: "connection_degraded" in open_)
    health = await rig.until(lambda h: h.status == "FAILED")
    assert "health checks failed" in (health.reason or "")
    assert (await rig.stored()).status == "FAILED"
    await rig.alerts_become(lambda open_: {"connection_degraded", "connection_failed"} <= open_)
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await rig.sessions.gateway("conn-1")  # orders cannot reach a failed connection
    rig.broker.healthy = True
    health = await rig.until(lambda h: h.status == "CONNECTED", timeout=20)
    assert health.metrics.reconnects >= 1 and health.metrics.failed_seconds > 0
    await rig.alerts_become(lambda open_: not open_)
    assert (await rig.stored()).status == "CONNECTED"
    await rig.sessions.gateway("conn-1")
    history = [e.status for e in (await rig.stored()).history]
    assert {"DEGRADED", "FAILED", "CONNECTED"} <= set(history)


async def test_oauth_token_is_refreshed_before_expiry_and_a_failed_refresh_only_degrades(rig: Rig) -> None:
    refresher = FakeRefresher(ttl=1.5)
    rig.plugins.register_refresher("fakebroker", refresher)
    expiring = ConnectionCredentials(access_token=SecretStr("access-0"), refresh_token=SecretStr("refresh-0"),
                                     token_expires_at=datetime.now(UTC) + timedelta(seconds=3))
    await rig.connections.save_credentials("conn-1", expiring)
    await rig.client.up("conn-1", FAST)
    health = await rig.until(lambda h: h.metrics.refreshes >= 2)
    stored = await rig.connections.get_credentials("conn-1")
    assert stored is not None and stored.refresh_token is not None
    assert stored.refresh_token.get_secret_value() == f"refresh-{refresher.calls}"  # rotated and stored
    assert health.token_expires_at is not None and health.status == "CONNECTED"
    refresher.fail = True
    health = await rig.until(lambda h: h.status == "DEGRADED" and "refresh" in (h.reason or ""))
    await rig.alerts_become(lambda open_: "token_refresh_failed" in open_)
    description = await rig.client.handle("conn-1").describe()
    assert description.status is not None and description.status.name == "RUNNING"
    refresher.fail = False
    await rig.until(lambda h: h.status == "CONNECTED" and not h.open_alerts)
    await rig.alerts_become(lambda open_: not open_)


async def test_session_keepalive_is_called_and_a_lost_session_reconnects(rig: Rig) -> None:
    keepalive = FakeKeepAlive()
    rig.plugins.register_keepalive("fakebroker", keepalive)
    await rig.client.up("conn-1", FAST)
    await rig.until(lambda h: h.metrics.keepalives >= 2)
    logins = rig.broker.logins
    keepalive.fail = True
    await eventually(lambda: _async(rig.broker.logins > logins))
    keepalive.fail = False
    await rig.until(lambda h: h.status == "CONNECTED" and h.metrics.keepalives >= 3)


async def _async(value: bool) -> bool:
    return value


async def test_pause_resume_reconnect_and_shutdown(rig: Rig) -> None:
    await rig.client.up("conn-1", FAST)
    await rig.until(lambda h: h.status == "CONNECTED" and h.stream_running)
    paused = await rig.client.pause("conn-1", "maintenance")
    assert paused.paused and not paused.stream_running
    with pytest.raises(ConnectionChangeRejectedError, match="paused already"):
        await rig.client.pause("conn-1")
    with pytest.raises(ConnectionChangeRejectedError, match="resume it first"):
        await rig.client.reconnect("conn-1")
    checks = (await rig.health()).metrics.checks
    await asyncio.sleep(0.5)
    assert (await rig.health()).metrics.checks == checks  # nothing runs while paused
    assert not (await rig.client.resume("conn-1")).paused
    with pytest.raises(ConnectionChangeRejectedError, match="not paused"):
        await rig.client.resume("conn-1")
    logins = rig.broker.logins
    again = await rig.client.reconnect("conn-1", update_id="rc-1")
    assert again.status == "CONNECTED" and rig.broker.logins == logins + 1
    await rig.client.reconnect("conn-1", update_id="rc-1")  # the same update id runs once
    assert rig.broker.logins == logins + 1
    final = await rig.client.down("conn-1", "test over")
    assert final is not None and final.status == "DISCONNECTED" and not final.open_alerts
    assert (await rig.stored()).status == "DISCONNECTED"


async def test_stream_forwards_each_execution_once_to_its_order(rig: Rig) -> None:
    await rig.client.up("conn-1", FAST)
    await rig.until(lambda h: h.stream_running and h.status == "CONNECTED")
    cid = f"o-{uuid.uuid4().hex[:8]}"
    order = await rig.order(cid)
    first = rig.broker.fill_event(cid, "X1")
    rig.broker.queue.put_nowait(first)  # the same execution twice
    rig.broker.fill_event(cid + "~rabc123", "X2")  # a replacement's fill belongs to the root order
    rig.broker.fill_event("nobody", "X3")  # no workflow for it: logged and skipped
    await eventually(lambda: _ids_are(order, ["X1", "X2"]))
    health = await rig.until(lambda h: h.stream.forwarded >= 2 and h.stream.ignored >= 1)
    assert health.stream.last_event_at is not None
    await order.signal(StandInOrderWorkflow.done)


async def _ids_are(order: Any, ids: list[str]) -> bool:
    return bool(await order.query(StandInOrderWorkflow.execution_ids) == ids)


async def test_continue_as_new_keeps_state_and_stream_position(rig: Rig) -> None:
    config = FAST.model_copy(update={"max_iterations": 5})
    await rig.client.up("conn-1", config)
    cid = f"o-{uuid.uuid4().hex[:8]}"
    order = await rig.order(cid)
    await rig.until(lambda h: h.stream_running)
    rig.broker.fill_event(cid, "Y1")
    await rig.until(lambda h: h.stream.forwarded >= 1)
    health = await rig.until(lambda h: h.runs >= 3, timeout=30)
    assert health.stream.forwarded >= 1 and "Y1" in health.stream.recent_execution_ids
    assert health.metrics.checks > 5  # totals survive each new run (one run checks at most 5 times)
    # A fill missed by the stream (nobody pushed it) is found by the reconcile of the next run.
    rig.broker.fill_event(cid, "Y2", push=False)
    rig.broker.queue.put_nowait(rig.broker.fill_event(cid, "Y1", push=False))  # a replay of an old fill
    runs = health.runs
    await rig.until(lambda h: h.runs >= runs + 2, timeout=30)
    await eventually(lambda: _ids_are(order, ["Y1", "Y2"]))
    health = await rig.health()
    assert health.stream.reconciled >= 1 and health.stream.resumes >= 2
    assert health.status == "CONNECTED"
    await order.signal(StandInOrderWorkflow.done)


async def test_a_fill_after_the_order_workflow_finished_is_recorded_and_alerted(rig: Rig) -> None:
    from domain.broker_integration import BrokerOrder, Order

    closed = Order.create(BrokerOrder(client_order_id="closed-1", symbol="AAPL", side="BUY", quantity=100),
                          datetime.now(UTC))
    closed.submit(datetime.now(UTC))
    closed.cancel(datetime.now(UTC))
    await rig.repos.orders.save(closed)
    await rig.client.up("conn-1", FAST)
    await rig.until(lambda h: h.stream_running and h.status == "CONNECTED")
    rig.broker.fill_event("closed-1", "LATE1")
    rig.broker.fill_event("stranger-1", "LATE2")  # not ours: not recorded
    await eventually(lambda: _stored(rig, "closed-1", ["LATE1"]))
    assert await rig.repos.executions.list_for_order("stranger-1") == []
    alerts = await rig.alerts.list_open("order:closed-1")
    assert [a.kind for a in alerts] == ["order_late_fill_LATE1"]
    stored = await rig.repos.orders.get("closed-1")
    assert stored is not None and stored.status == "CANCELED" and stored.filled_quantity == 1
    assert stored.late_fills == 1 and stored.execution_ids == ["LATE1"]


async def _stored(rig: Rig, cid: str, ids: list[str]) -> bool:
    return [e.execution_id for e in await rig.repos.executions.list_for_order(cid)] == ids


async def test_fees_charged_after_an_order_closed_are_swept_into_it_once(rig: Rig) -> None:
    from decimal import Decimal

    from domain.broker_integration import BrokerOrder, FeeReport, Order

    now = datetime.now(UTC)
    closed = Order.create(BrokerOrder(client_order_id="swept-1", symbol="AAPL", side="SELL", quantity=10), now)
    closed.submit(now)
    closed.cancel(now)
    still_open = Order.create(BrokerOrder(client_order_id="open-1", symbol="AAPL", side="SELL", quantity=10), now)
    still_open.submit(now)
    for order in (closed, still_open):
        await rig.repos.orders.save(order)
        rig.broker.fees.append(FeeReport(fee_id=f"REG-{order.client_order_id}", client_order_id=order.client_order_id,
                                         kind="SEC_FEE", amount=Decimal("0.05"), charged_at=now))
    await rig.client.up("conn-1", FAST.model_copy(update={"fee_sweep_seconds": 0.2, "stream_enabled": False}))
    await eventually(lambda: _fee_count(rig, "swept-1", 1))
    await asyncio.sleep(1)  # several more sweeps: still one fee
    assert [f.fee_id for f in await rig.repos.fees.list_for_order("swept-1")] == ["REG-swept-1"]
    stored = await rig.repos.orders.get("swept-1")
    assert stored is not None and stored.fees == Decimal("0.05")
    assert await rig.repos.fees.list_for_order("open-1") == []  # a running order collects its own


async def _fee_count(rig: Rig, cid: str, count: int) -> bool:
    return len(await rig.repos.fees.list_for_order(cid)) == count
