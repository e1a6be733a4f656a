"""A Tradier connection supervised on Temporal: its account events reach the order workflows, a drop included."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest_asyncio
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.connection_models import SupervisorConfig
from activities.models import OrderRequest
from domain.broker_integration import AuthMethod, BrokerConnection, ConnectionCredentials
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator
from starter.connections import ConnectionClient
from starter.orders import OrderClient
from worker import running_worker

CONN = "tradier-sup"


@dataclass
class Supervised:
    sim: SimulatorHandle
    connections: ConnectionClient
    orders: OrderClient


@pytest_asyncio.fixture(loop_scope="session")
async def supervised(temporal_env: WorkflowEnvironment, repositories: Repositories, task_queue: str
                     ) -> AsyncIterator[Supervised]:
    async with running_simulator(autotick=True) as sim:
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="tradier",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials(CONN, ConnectionCredentials(access_token=SecretStr("SIMTOKEN")))
        async with running_worker(temporal_env.client, repositories, task_queue):
            connections = ConnectionClient(temporal_env.client, task_queue)
            await connections.up(CONN, SupervisorConfig(health_interval_seconds=0.5, stream_heartbeat_seconds=1,
                                                        position_signal_seconds=0.5))
            try:
                yield Supervised(sim, connections, OrderClient(temporal_env.client, task_queue))
            finally:
                await connections.down(CONN, "test over")


async def forwarded(s: Supervised) -> int:
    return (await s.connections.health(CONN)).stream.forwarded


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.1)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met in time")


def slow_order() -> OrderRequest:
    # A long poll interval: the fills have to come from the stream to finish the order in time.
    return OrderRequest(client_order_id=f"sup-{uuid.uuid4().hex[:10]}", symbol="MSFT", side="BUY", quantity=6,
                        connection_id=CONN, poll_interval_seconds=120)


async def test_events_reach_the_orders_and_a_drop_loses_nothing(supervised: Supervised) -> None:
    s = supervised

    async def connected_and_streaming() -> bool:
        health = await s.connections.health(CONN)
        return str(health.status) == "CONNECTED" and health.stream_running

    await until(connected_and_streaming)
    await s.sim.admin.set_liquidity("MSFT", 2)
    first = await s.orders.submit(slow_order())
    assert (await s.orders.wait(first, timeout=40)).view.status == "FILLED"

    async def first_fills_forwarded() -> bool:  # the stream reports its position every 0.5 s
        return await forwarded(s) >= 3

    await until(first_fills_forwarded, timeout=20)  # the first order's fills came over the events stream
    before = await forwarded(s)

    await s.sim.admin.disconnect_streams(refuse_seconds=1)
    second = await s.orders.submit(slow_order())
    outcome = await s.orders.wait(second, timeout=40)
    assert outcome.view.status == "FILLED" and outcome.view.filled_qty == 6

    async def forwarded_since_the_drop() -> bool:  # the stream reports its position every 0.5 s
        return await forwarded(s) > before

    await until(forwarded_since_the_drop, timeout=20)
