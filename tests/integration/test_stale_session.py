"""A worker's cached broker session after the supervisor rotated the token: the first call fails with a 401,
the next one logs in with the stored (new) token. Without that, every later poll, cancel, amend or pre-trade
check on that worker failed the same way, and an order's fill went unseen (found by `make chaos`).

Real pieces: PostgreSQL, the Tradier adapter over HTTP, the simulator's token endpoints; the activities run
in Temporal's ActivityEnvironment (no workflow: the point is what one worker process holds).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.models import CancelInput, PollInput, PreTradeInput, ReplaceInput, SubmitInput
from activities.order_activities import OrderActivities
from activities.sessions import SessionPool
from brokers.registry import SystemClock, install_defaults
from domain.broker_integration import (
    AuthMethod,
    BrokerConnection,
    BrokerOrder,
    ConnectionCredentials,
    OrderAmendment,
    OrderSnapshot,
    runtime,
)
from persistence import Repositories
from simulator.testing import SimulatorHandle, running_simulator

CONN = "tradier-stale"


@dataclass
class Worker:
    sim: SimulatorHandle
    repos: Repositories
    activities: OrderActivities
    token: str

    async def run(self, fn: Callable[..., Awaitable[Any]], arg: Any) -> Any:
        return await ActivityEnvironment().run(fn, arg)

    async def rotate(self) -> None:
        """What the supervisor does on a refresh: the old token dies, the new one is stored."""
        await self.sim.admin.expire_token(self.token, close_streams=False)
        fresh = await self.sim.admin.issue_token("ACC1", ttl_seconds=600)
        await self.repos.connections.save_credentials(CONN, ConnectionCredentials(
            api_key=fresh["client_id"], api_secret=SecretStr("SIMCLIENTSECRET"),
            access_token=SecretStr(fresh["token"]), refresh_token=SecretStr(fresh["refresh_token"]),
            token_expires_at=datetime.now(UTC) + timedelta(seconds=600)))
        self.token = fresh["token"]


@pytest_asyncio.fixture(loop_scope="session")
async def worker(repositories: Repositories) -> AsyncIterator[Worker]:
    async with running_simulator(autotick=True) as sim:
        issued = await sim.admin.issue_token("ACC1", ttl_seconds=600)
        await repositories.connections.save(BrokerConnection(connection_id=CONN, broker="tradier",
                                                             auth_method=AuthMethod.OAUTH2, base_url=sim.base_url))
        await repositories.connections.save_credentials(CONN, ConnectionCredentials(
            api_key=issued["client_id"], api_secret=SecretStr("SIMCLIENTSECRET"),
            access_token=SecretStr(issued["token"]), refresh_token=SecretStr(issued["refresh_token"]),
            token_expires_at=datetime.now(UTC) + timedelta(seconds=600)))
        registry = install_defaults(credentials=repositories.connections.get_credentials)
        sessions = SessionPool(repositories.connections, registry, SystemClock())
        try:
            await sim.admin.set_price("AAPL", "190", volatility=0)
            yield Worker(sim, repositories, OrderActivities(repositories, sessions), issued["token"])
        finally:
            await sessions.close()
            runtime.reset()


def _resting(cid: str) -> BrokerOrder:
    return BrokerOrder(client_order_id=cid, symbol="AAPL", side="BUY", quantity=Decimal(2), order_type="LIMIT",
                       price=Decimal("150"), connection_id=CONN)


async def _rests(w: Worker) -> tuple[BrokerOrder, OrderSnapshot]:
    order = _resting(f"st-{uuid.uuid4().hex[:10]}")
    placed = await w.run(w.activities.submit_order, SubmitInput(order=order))
    assert isinstance(placed, OrderSnapshot) and placed.broker_order_id
    return order, placed


def _is_401(exc: ApplicationError) -> bool:
    return "401" in str(exc) or "uthenticat" in str(exc) or "uthoriz" in str(exc)


async def test_a_poll_after_the_token_rotated_fails_once_then_sees_the_order(worker: Worker) -> None:
    order, placed = await _rests(worker)
    poll = PollInput(connection_id=CONN, client_order_id=order.client_order_id,
                     broker_order_ids=[placed.broker_order_id])
    await worker.rotate()
    with pytest.raises(ApplicationError) as first:
        await worker.run(worker.activities.poll_order, poll)
    assert _is_401(first.value), first.value
    found = await worker.run(worker.activities.poll_order, poll)  # logged in again with the stored token
    assert found.snapshot.broker_order_id == placed.broker_order_id
    assert str(found.snapshot.status) in ("ACCEPTED", "NEW", "PENDING_NEW")


async def test_a_cancel_after_the_token_rotated_fails_once_then_reaches_the_broker(worker: Worker) -> None:
    order, placed = await _rests(worker)
    await worker.rotate()
    cancel = CancelInput(connection_id=CONN, broker_order_id=placed.broker_order_id)
    with pytest.raises(ApplicationError) as first:
        await worker.run(worker.activities.cancel_order, cancel)
    assert _is_401(first.value), first.value
    await worker.run(worker.activities.cancel_order, cancel)
    seen = {o["tradier_tag"]: o for o in (await worker.sim.admin.orders())["orders"]}  # Tradier's tag: our id
    assert seen[order.client_order_id]["status"] == "canceled"


async def test_an_amend_and_a_pre_trade_check_after_the_token_rotated_log_in_again(worker: Worker) -> None:
    order, placed = await _rests(worker)
    await worker.rotate()
    with pytest.raises(ApplicationError) as first:
        await worker.run(worker.activities.pre_trade_check, PreTradeInput(order=_resting("st-check")))
    assert _is_401(first.value), first.value
    checked = await worker.run(worker.activities.pre_trade_check, PreTradeInput(order=_resting("st-check")))
    assert checked.ok, checked.reason

    await worker.rotate()
    replace = ReplaceInput(connection_id=CONN, broker_order_id=placed.broker_order_id,
                           client_order_id=order.client_order_id, amendment=OrderAmendment(limit_price=Decimal("151")))
    with pytest.raises(ApplicationError) as again:
        await worker.run(worker.activities.replace_order, replace)
    assert _is_401(again.value), again.value
    replaced = await worker.run(worker.activities.replace_order, replace)
    assert replaced.limit_price == Decimal("151")
