"""A Tradier connection whose access token dies mid-session is refreshed by the real TradierTokenRefresher.

Real pieces: Temporal dev server, PostgreSQL, the Tradier adapter over HTTP/WebSocket, the simulator's OAuth
endpoint, and the refresher `install_defaults` registers for the worker (no fake). The order polls only every
30 s, so its fill has to come over the account events stream once that is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from activities.auth_plugins import AUTH_PLUGINS
from activities.connection_models import ConnectionHealth, SupervisorConfig
from activities.models import OrderRequest
from brokers.registry import install_defaults
from brokers.tradier import TradierTokenRefresher
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials, runtime
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.connections import ConnectionClient
from starter.orders import OrderClient
from worker import running_worker

CONN = "tradier-refresh"
FAST = SupervisorConfig(health_interval_seconds=0.2, check_timeout_seconds=5, error_window=4,
                        degraded_error_rate=0.25, fail_after=50, reconnect_initial_seconds=0.2,
                        reconnect_max_seconds=1, refresh_before_seconds=1, position_signal_seconds=0.2,
                        stream_heartbeat_seconds=10, reconcile_margin_seconds=30)


@dataclass
class Stack:
    sim: SimulatorHandle
    repos: Repositories
    connections: ConnectionClient
    orders: OrderClient
    issued: dict[str, str]

    async def until(self, predicate: Callable[[ConnectionHealth], bool], timeout: float = 30) -> ConnectionHealth:
        health = await self.connections.health(CONN)
        for _ in range(int(timeout / 0.1)):
            if predicate(health):
                return health
            await asyncio.sleep(0.1)
            health = await self.connections.health(CONN)
        raise AssertionError(f"condition not met; health: {health}")


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                ) -> AsyncIterator[Stack]:
    before = AUTH_PLUGINS.refresher_for("tradier")
    AUTH_PLUGINS.register_refresher("tradier", None)  # install_defaults, not an earlier test, provides it
    async with running_simulator(autotick=True) as sim:
        issued = await sim.admin.issue_token("ACC1", ttl_seconds=600)
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="tradier",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials(CONN, ConnectionCredentials(
            api_key=issued["client_id"], api_secret=SecretStr("SIMCLIENTSECRET"),  # the OAuth client
            access_token=SecretStr(issued["token"]), refresh_token=SecretStr(issued["refresh_token"]),
            token_expires_at=datetime.now(UTC) + timedelta(seconds=600)))
        registry = install_defaults(credentials=repositories.connections.get_credentials)  # as `brokerflow worker`
        try:
            async with running_worker(temporal_env.client, repositories, task_queue, registry=registry):
                connections = ConnectionClient(temporal_env.client, task_queue)
                yield Stack(sim, repositories, connections, OrderClient(temporal_env.client, task_queue), issued)
                with contextlib.suppress(Exception):
                    await connections.down(CONN, "test over", wait=20)
        finally:
            runtime.reset()
            AUTH_PLUGINS.register_refresher("tradier", before)


async def _until_status(stack: Stack, cid: str, status: str) -> None:
    while (await stack.orders.status(cid)).status != status:
        await asyncio.sleep(0.1)


async def _stored_row(stack: Stack) -> str:
    """The connection's credentials as PostgreSQL holds them (to prove they are not in clear text)."""
    assert stack.repos.engine is not None
    async with stack.repos.engine.connect() as db:
        row = (await db.execute(text("SELECT row_to_json(c)::text FROM broker_credentials c "
                                     "WHERE connection_id = :c"), {"c": CONN})).scalar()
    assert row
    return str(row)


async def _history_text(stack: Stack) -> str:
    history = await stack.connections.handle(CONN).fetch_history()
    return history.to_json()


async def test_an_expired_tradier_token_is_refreshed_and_the_resting_order_fills_once(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert isinstance(AUTH_PLUGINS.refresher_for("tradier"), TradierTokenRefresher)
    await stack.connections.up(CONN, FAST)
    await stack.until(lambda h: str(h.status) == "CONNECTED" and h.stream_running)
    await stack.sim.admin.set_price("AAPL", "190", volatility=0)
    cid = f"tr-{uuid.uuid4().hex[:12]}"
    await stack.orders.submit(OrderRequest(client_order_id=cid, symbol="AAPL", side="BUY", quantity=5,
                                           order_type="LIMIT", limit_price="150", connection_id=CONN,
                                           poll_interval_seconds=30))
    await asyncio.wait_for(_until_status(stack, cid, "ACCEPTED"), 30)

    expired = await stack.sim.admin.expire_token(stack.issued["token"], close_streams=True)
    assert expired["expired"] and expired["streams_closed"] >= 1  # the events socket went down with it
    health = await stack.until(lambda h: h.metrics.refreshes >= 1 and str(h.status) == "CONNECTED")
    assert health.metrics.reconnects >= 1

    stored = await stack.repos.connections.get_credentials(CONN)
    assert stored is not None and stored.access_token is not None and stored.refresh_token is not None
    new_access, new_refresh = stored.access_token.get_secret_value(), stored.refresh_token.get_secret_value()
    assert new_access != stack.issued["token"] and new_refresh != stack.issued["refresh_token"]  # rotated
    assert stored.token_expires_at is not None and stored.token_expires_at > datetime.now(UTC)
    assert stored.api_key == "SIMCLIENT" and stored.api_secret is not None  # the OAuth client is kept
    assert "tradier token refreshed for connection" in caplog.text  # the logs are captured here
    raw, history = await _stored_row(stack), await _history_text(stack)
    for clear in (new_access, new_refresh, stack.issued["refresh_token"], "SIMCLIENTSECRET"):
        assert clear not in raw and clear.encode().hex() not in raw  # bytea is rendered as hex
        assert clear not in history and clear not in caplog.text  # nor in the supervisor's history or logs

    await stack.until(lambda h: h.stream_running and h.stream.revision >= 0)
    await asyncio.sleep(1.0)  # let the events stream subscribe with the new token
    await stack.sim.admin.set_price("AAPL", "149", volatility=0)
    outcome = await stack.orders.wait(cid, timeout=30)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 5
    executions = await stack.repos.executions.list_for_order(cid)
    assert len({e.execution_id for e in executions}) == len(executions)
    assert sum((e.quantity for e in executions), Decimal(0)) == 5
    submissions = (await stack.sim.admin.orders())["submissions"].get(cid, [])
    assert len(submissions) == 1  # the order reached the broker once, the refresh notwithstanding


async def test_a_tradier_token_about_to_expire_is_refreshed_before_it_does(stack: Stack) -> None:
    short = await stack.sim.admin.issue_token("ACC1", ttl_seconds=4)
    await stack.repos.connections.save_credentials(CONN, ConnectionCredentials(
        api_key=short["client_id"], api_secret=SecretStr("SIMCLIENTSECRET"), access_token=SecretStr(short["token"]),
        refresh_token=SecretStr(short["refresh_token"]), token_expires_at=datetime.now(UTC) + timedelta(seconds=4)))
    await stack.connections.up(CONN, FAST)
    health = await stack.until(lambda h: h.metrics.refreshes >= 1, timeout=20)
    assert health.metrics.reconnects == 0 and health.metrics.failures == 0  # renewed in time, no outage
