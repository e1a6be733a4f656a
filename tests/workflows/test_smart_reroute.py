"""OrderWorkflow routing on a real Temporal dev server with the real activities over scripted brokers: the
decision is stored with the order, and a routed order whose connection cannot log in is routed elsewhere
before anything is sent (patch `smart-reroute`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import cast

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.broker_integration import (
    BrokerConnection,
    BrokerGateway,
    BrokerUnavailableError,
    ConnectionCredentials,
    SessionInfo,
)
from tests.unit.domain.fakes import FakeClock, FakeConnections, FakeExecutions, FakeOrders, FakeStatuses
from worker import build_worker
from workflows.order_workflow import OrderWorkflow

from .fake_broker import FakeBroker
from .test_order_workflow import FakeAccounts, Repos, World, save_histories


class DownBroker(FakeBroker):
    """A broker whose login always fails (the connection never gets a session)."""

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        raise BrokerUnavailableError("connection refused")


class Provider:
    def __init__(self, up: FakeBroker, down: FakeBroker) -> None:
        self.up, self.down = up, down

    def gateway_for(self, connection: BrokerConnection) -> BrokerGateway:
        return self.down if connection.connection_id.startswith("a-down") else self.up


@pytest_asyncio.fixture(loop_scope="session")
async def world(temporal_env: WorkflowEnvironment, task_queue: str, request: pytest.FixtureRequest
                ) -> AsyncIterator[tuple[World, DownBroker]]:
    broker, down = FakeBroker(), DownBroker()
    repos = Repos(FakeConnections(), FakeAccounts(), FakeOrders(), FakeExecutions(), FakeStatuses())
    for cid in ("a-down", "conn-1"):  # ties go by id: a-down is the first choice
        await repos.connections.save(BrokerConnection(connection_id=cid, broker="fakebroker"))
        await repos.connections.save_credentials(cid, ConnectionCredentials(api_key="k", api_secret="s"))
    # Plain payloads (no codec), so that recorded histories replay in test_replay.py.
    config = temporal_env.client.config()
    config["data_converter"] = pydantic_data_converter
    client = Client(**config)
    worker, _ = build_worker(client, repos, Provider(broker, down), FakeClock(), task_queue)
    async with worker:
        w = World(cast(WorkflowEnvironment, SimpleNamespace(client=client)), broker, repos, task_queue)
        yield w, down
        if os.environ.get("BROKERFLOW_RECORD_HISTORIES"):
            await save_histories(w, request.node.name)


async def test_a_routed_order_leaves_a_connection_that_cannot_log_in(world: tuple[World, DownBroker]) -> None:
    w, down = world
    handle = await w.start(symbol="AAPL", side="BUY", quantity=5, connection_id="SMART", session_wait_seconds=60)
    outcome = await asyncio.wait_for(handle.result(), 60)
    assert outcome.view.status == "FILLED" and outcome.view.connection_id == "conn-1"
    assert down.received == [] and [o.connection_id for o in w.broker.received] == ["conn-1"]
    stored = await w.repos.orders.get(outcome.view.client_order_id)
    assert stored is not None and stored.route is not None
    assert stored.route.connection_id == "conn-1" and stored.route.abandoned == ("a-down",)
    first = next(v for v in stored.route.candidates if v.connection_id == "a-down")
    assert not first.eligible and first.reasons[0].startswith("abandoned: session not ready (FAILED)")
    assert (await handle.query(OrderWorkflow.status)).route == stored.route


async def test_a_pinned_order_is_never_moved(world: tuple[World, DownBroker]) -> None:
    w, down = world
    handle = await w.start(symbol="AAPL", side="BUY", quantity=1, connection_id="a-down", session_wait_seconds=1)
    outcome = await asyncio.wait_for(handle.result(), 60)
    assert outcome.view.status == "REJECTED" and "a-down not ready" in (outcome.view.reason or "")
    assert down.received == [] and w.broker.received == []


async def test_with_nowhere_left_the_routed_order_is_refused_with_the_reasons(world: tuple[World, DownBroker]
                                                                              ) -> None:
    w, _ = world
    w.repos.connections.items.pop("conn-1")  # only the connection that cannot log in is left
    handle = await w.start(symbol="AAPL", side="BUY", quantity=1, connection_id=None, session_wait_seconds=60)
    outcome = await asyncio.wait_for(handle.result(), 60)
    reason = outcome.view.reason or ""
    assert outcome.view.status == "REJECTED"
    assert "no connection can take the order" in reason and "a-down: abandoned: session not ready" in reason
    assert w.broker.received == []
