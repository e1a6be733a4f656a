"""BrokerConnectionManager.establish_connection starts the connection's supervisor workflow (issue 5)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from brokers.registry import SystemClock
from domain.broker_integration import BrokerConnection, BrokerConnectionManager, ConnectionCredentials, runtime
from persistence import Repositories
from simulator.testing import running_simulator
from starter.connections import ConnectionClient
from starter.supervision import install_supervisor
from worker import running_worker


@pytest_asyncio.fixture(loop_scope="session")
async def supervised(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                     ) -> AsyncIterator[tuple[BrokerConnectionManager, ConnectionClient]]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id="sup-1", broker="alpaca",
                                                             base_url=sim.base_url))
        async with running_worker(temporal_env.client, repositories, task_queue) as running:
            install_supervisor(temporal_env.client, task_queue)
            manager = BrokerConnectionManager(repositories.connections, gateways=running.registry,
                                              clock=SystemClock())
            await manager.register_connection(
                BrokerConnection(connection_id="sup-1", broker="alpaca", base_url=sim.base_url),
                ConnectionCredentials(api_key="SIMKEY", api_secret="SIMSECRET"))
            try:
                yield manager, ConnectionClient(temporal_env.client, task_queue)
            finally:
                runtime.reset()


async def test_establish_connection_starts_one_supervisor(
    supervised: tuple[BrokerConnectionManager, ConnectionClient],
) -> None:
    manager, connections = supervised
    assert await manager.establish_connection("sup-1") is True
    assert await manager.establish_connection("sup-1") is True  # the same supervisor is kept
    for _ in range(100):
        health = await connections.health("sup-1")
        if str(health.status) == "CONNECTED":
            break
        await asyncio.sleep(0.1)
    assert str(health.status) == "CONNECTED"
    runs = [w async for w in connections.client.list_workflows("WorkflowId = 'connection-sup-1'")]
    assert len(runs) == 1
    final = await connections.down("sup-1")
    assert final is not None and str(final.status) == "DISCONNECTED"
