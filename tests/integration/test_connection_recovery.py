"""Connection supervisor against the simulator's faults: token expiry, 5xx bursts, stream drops, a broker down.

Real pieces throughout: Temporal dev server, PostgreSQL, the Alpaca adapter over HTTP/WebSocket, the simulator.
Orders poll only every 30 s here, so their fills must come from the supervisor's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.auth_plugins import AuthPlugins
from activities.connection_activities import alert_subject
from activities.connection_models import ConnectionHealth, SupervisorConfig
from activities.models import OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories
from persistence.repositories.connection_health import ConnectionStores, stores_for
from simulator.testing import SimulatorHandle, running_simulator
from starter.connections import ConnectionClient
from starter.orders import OrderClient
from worker import running_worker

CONN = "alpaca-sim"
FAST = SupervisorConfig(health_interval_seconds=0.2, check_timeout_seconds=5, error_window=4,
                        degraded_error_rate=0.25, fail_after=50, reconnect_initial_seconds=0.2,
                        reconnect_max_seconds=1, refresh_before_seconds=1, position_signal_seconds=0.2,
                        stream_heartbeat_seconds=10, reconcile_margin_seconds=30)


class SimTokenRefresher:
    """Stands in for an OAuth token endpoint: the simulator issues a fresh bearer token for ACC1."""

    def __init__(self, sim: SimulatorHandle) -> None:
        self.sim = sim
        self.calls = 0

    async def refresh(self, connection: BrokerConnection, credentials: ConnectionCredentials
                      ) -> ConnectionCredentials:
        self.calls += 1
        issued = await self.sim.admin.issue_token("ACC1", ttl_seconds=600)
        return ConnectionCredentials(access_token=SecretStr(issued["token"]),
                                     refresh_token=SecretStr(f"refresh-{self.calls}"),
                                     token_expires_at=datetime.now(UTC) + timedelta(seconds=600))


@dataclass
class Stack:
    sim: SimulatorHandle
    repos: Repositories
    stores: ConnectionStores
    orders: OrderClient
    connections: ConnectionClient
    plugins: AuthPlugins

    async def until(self, predicate: Callable[[ConnectionHealth], bool], timeout: float = 30) -> ConnectionHealth:
        health = await self.connections.health(CONN)
        for _ in range(int(timeout / 0.1)):
            if predicate(health):
                return health
            await asyncio.sleep(0.1)
            health = await self.connections.health(CONN)
        raise AssertionError(f"condition not met; health: {health}")

    async def alert_kinds(self, open_only: bool = True) -> set[str]:
        alerts = await self.stores.alerts.history(alert_subject(CONN))
        return {a.kind for a in alerts if a.cleared_at is None or not open_only}

    async def submissions(self, client_order_id: str) -> list[Any]:
        return list((await self.sim.admin.orders())["submissions"].get(client_order_id, []))


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="alpaca",
                                                             base_url=sim.base_url))
        await repositories.connections.save_credentials(
            CONN, ConnectionCredentials(api_key="SIMKEY", api_secret=SecretStr("SIMSECRET")))
        stores, plugins = stores_for(repositories), AuthPlugins()
        async with running_worker(temporal_env.client, repositories, task_queue, stores=stores, plugins=plugins):
            connections = ConnectionClient(temporal_env.client, task_queue)
            yield Stack(sim, repositories, stores, OrderClient(temporal_env.client, task_queue), connections,
                        plugins)
            with contextlib.suppress(Exception):  # the test may have stopped it already
                await connections.down(CONN, "test over", wait=20)


def order(**fields: Any) -> OrderRequest:
    fields.setdefault("client_order_id", f"cr-{uuid.uuid4().hex[:12]}")
    fields.setdefault("connection_id", CONN)
    fields.setdefault("poll_interval_seconds", 30)  # fills must come from the stream
    return OrderRequest(**fields)


async def assert_recorded_once(stack: Stack, cid: str, quantity: int) -> None:
    executions = await stack.repos.executions.list_for_order(cid)
    assert len({e.execution_id for e in executions}) == len(executions)
    assert sum((e.quantity for e in executions), Decimal(0)) == quantity
    broker = [o for o in (await stack.sim.admin.orders())["orders"] if o["client_order_id"].split("~")[0] == cid]
    assert sum((Decimal(o["filled_qty"]) for o in broker), Decimal(0)) == quantity
    assert len(await stack.submissions(cid)) == 1


async def test_token_revoked_mid_session_is_refreshed_and_no_order_is_lost(stack: Stack) -> None:
    refresher = SimTokenRefresher(stack.sim)
    stack.plugins.register_refresher("alpaca", refresher)
    first = await stack.sim.admin.issue_token("ACC1", ttl_seconds=600)
    await stack.repos.connections.save_credentials(CONN, ConnectionCredentials(
        access_token=SecretStr(first["token"]), refresh_token=SecretStr("refresh-0"),
        token_expires_at=datetime.now(UTC) + timedelta(seconds=600)))
    await stack.connections.up(CONN, FAST)
    await stack.until(lambda h: h.status == "CONNECTED" and h.stream_running and h.stream.revision >= 0)
    await stack.sim.admin.set_price("AAPL", "190", volatility=0)
    cid = await stack.orders.submit(order(symbol="AAPL", side="BUY", quantity=5, order_type="LIMIT",
                                          limit_price="150"))
    assert (await asyncio.wait_for(_until_status(stack, cid, "ACCEPTED"), 30))
    await stack.sim.admin.expire_token(first["token"], close_streams=True)
    health = await stack.until(lambda h: h.metrics.refreshes >= 1 and h.status == "CONNECTED")
    assert refresher.calls >= 1 and health.metrics.reconnects >= 1
    stored = await stack.repos.connections.get_credentials(CONN)
    assert stored is not None and stored.access_token is not None
    assert stored.access_token.get_secret_value() != first["token"]  # the new token, stored encrypted
    await asyncio.sleep(1.0)  # let the stream come back with the new token
    await stack.sim.admin.set_price("AAPL", "149", volatility=0)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 5
    await assert_recorded_once(stack, cid, 5)


async def _until_status(stack: Stack, cid: str, status: str) -> bool:
    while (await stack.orders.status(cid)).status != status:
        await asyncio.sleep(0.1)
    return True


async def test_5xx_burst_degrades_raises_alerts_then_recovers_and_clears_them(stack: Stack) -> None:
    await stack.connections.up(CONN, FAST)
    await stack.until(lambda h: h.status == "CONNECTED" and h.metrics.checks >= 2)
    await stack.sim.admin.set_faults(error_rate=1.0, error_status=503, error_match="")
    health = await stack.until(lambda h: h.status == "DEGRADED")
    assert "503" in (health.reason or "")
    await stack.until(lambda h: "connection_degraded" in h.open_alerts)
    assert "connection_degraded" in await stack.alert_kinds()
    stored = await stack.repos.connections.get(CONN)
    assert stored is not None and stored.status == "DEGRADED"
    await stack.sim.admin.clear_faults()
    health = await stack.until(lambda h: h.status == "CONNECTED" and not h.open_alerts)
    assert health.metrics.failures >= 1 and health.metrics.degraded_seconds > 0
    assert await stack.alert_kinds() == set()
    assert "connection_degraded" in await stack.alert_kinds(open_only=False)  # raised, then cleared
    samples = await stack.stores.samples.recent(CONN, limit=500)
    assert any(not s.ok for s in samples) and samples[-1].ok and samples[-1].failures >= 1
    stored = await stack.repos.connections.get(CONN)
    assert stored is not None and stored.status == "CONNECTED"
    assert {"DEGRADED", "CONNECTED"} <= {e.status for e in stored.history}


async def test_stream_drop_while_orders_fill_records_every_fill_once(stack: Stack) -> None:
    await stack.connections.up(CONN, FAST)
    await stack.until(lambda h: h.status == "CONNECTED" and h.stream_running)
    await asyncio.sleep(0.5)
    await stack.sim.admin.set_liquidity("MSFT", 4)  # partial fills
    await stack.sim.admin.disconnect_streams(refuse_seconds=3)
    cids = [await stack.orders.submit(order(symbol=s, side="BUY", quantity=q))
            for s, q in (("AAPL", 7), ("MSFT", 10), ("SPY", 3))]
    outcomes = [await stack.orders.wait(cid, timeout=45) for cid in cids]
    assert [o.view.status for o in outcomes] == ["FILLED"] * 3
    for cid, quantity in zip(cids, (7, 10, 3), strict=True):
        await assert_recorded_once(stack, cid, quantity)
    health = await stack.connections.health(CONN)
    assert health.stream.forwarded > 0


@pytest.mark.parametrize("lost", [["fill"], ["new", "fill"]], ids=["fill-lost", "every-event-lost"])
async def test_a_fill_the_brokers_stream_lost_reaches_a_resting_order_by_the_connections_reconcile(
        stack: Stack, lost: list[str]) -> None:
    # The order never polls during the test (first poll in an hour, safety poll every 6 hours): its fill can only
    # come from the stream, which loses it, or from the connection's reconcile pass, which must find it. With
    # every event lost the stream never forwarded one, so there is no last event to ask fills from: the pass
    # finds the order filled further at the broker than in our database, two passes in a row.
    await stack.connections.up(CONN, FAST.model_copy(update={"reconcile_seconds": 1}))
    await stack.until(lambda h: h.status == "CONNECTED" and h.stream_running)
    await stack.sim.admin.set_price("AAPL", "190", volatility=0)
    if len(lost) == 2:
        await stack.sim.admin.lose_stream_events(2)
    cid = await stack.orders.submit(order(symbol="AAPL", side="BUY", quantity=5, order_type="LIMIT",
                                          limit_price="150", poll_interval_seconds=3600))
    assert await asyncio.wait_for(_until_status(stack, cid, "ACCEPTED"), 30)
    if len(lost) == 1:
        await stack.sim.admin.lose_stream_events(1)
    await stack.sim.admin.set_price("AAPL", "149", volatility=0)
    outcome = await stack.orders.wait(cid, timeout=30)
    seen_lost = (await stack.sim.admin.lose_stream_events(0))["lost"]
    assert [(e["event"], e["client_order_id"]) for e in seen_lost] == [(kind, cid) for kind in lost]
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 5
    await assert_recorded_once(stack, cid, 5)
    # A pass found it, not a restart (the position reaches the supervisor with the stream's next heartbeat).
    await stack.until(lambda h: h.stream.reconciled >= 1 and h.stream.resumes == 0, timeout=10)


async def test_broker_down_trips_the_breaker_orders_fail_clearly_and_are_never_sent(stack: Stack) -> None:
    await stack.connections.up(CONN, FAST.model_copy(update={"fail_after": 2}))
    await stack.until(lambda h: h.status == "CONNECTED")
    await stack.sim.admin.set_faults(error_rate=1.0, error_status=503, error_match="")
    await stack.until(lambda h: h.status == "FAILED")
    await stack.until(lambda h: "connection_failed" in h.open_alerts)
    # The order waits 5 s for the circuit (30 by default; the bound itself is a workflow test's), then ends.
    cid = await stack.orders.submit(order(symbol="AAPL", side="BUY", quantity=1, session_wait_seconds=5))
    outcome = await stack.orders.wait(cid, timeout=60)
    assert outcome.view.status == "REJECTED" and "circuit open" in (outcome.view.reason or "")
    assert await stack.submissions(cid) == []  # never reached the broker
    await stack.sim.admin.clear_faults()
    await stack.until(lambda h: h.status == "CONNECTED" and not h.open_alerts, timeout=45)
    retry = await stack.orders.submit(order(symbol="AAPL", side="BUY", quantity=1))
    assert (await stack.orders.wait(retry, timeout=60)).view.status == "FILLED"
    await assert_recorded_once(stack, retry, 1)
    assert await stack.alert_kinds() == set()


async def test_supervisor_syncs_accounts_and_alerts_on_drift(stack: Stack) -> None:
    await stack.connections.up(CONN, FAST.model_copy(update={"account_sync_seconds": 0.3}))
    await stack.until(lambda h: h.status == "CONNECTED")
    accounts: list[Any] = []
    for _ in range(100):
        accounts = list(await stack.repos.accounts.list_for_connection(CONN))
        if accounts:
            break
        await asyncio.sleep(0.1)
    (account,) = accounts  # discovered from the broker
    assert account.cash > 0 and account.account_type == "MARGIN"
    subject = f"account:{account.account_id}"
    # Our books lose 100.00 of cash that the broker still holds: the next sync raises a drift alert ...
    await stack.repos.accounts.save(account.model_copy(update={"cash": account.cash - 100}))
    raised = []
    for _ in range(100):
        raised = [a for a in await stack.stores.alerts.history(subject) if a.kind == "account_drift"]
        if raised:
            break
        await asyncio.sleep(0.1)
    assert raised and "cash: ours" in raised[0].message and account.account_number not in raised[0].message
    # ... and the merge takes the broker's figures, so the one after clears it.
    for _ in range(100):
        if all(a.cleared_at is not None for a in await stack.stores.alerts.history(subject)):
            break
        await asyncio.sleep(0.1)
    assert all(a.cleared_at is not None for a in await stack.stores.alerts.history(subject))
    synced = await stack.repos.accounts.get(account.account_id)
    assert synced is not None and synced.cash == account.cash
