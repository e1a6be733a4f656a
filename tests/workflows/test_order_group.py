"""OrderGroupWorkflow on the emulated path: child OrderWorkflows over the scripted broker, coupled by the group."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from activities.group_models import GroupPath, GroupView, OrderGroupInput, order_group_workflow_id
from activities.models import CancelRequest
from domain.broker_integration import BrokerUnavailableError, LegRole, OrderGroupRequest, OrderSnapshot
from workflows.order_group import OrderGroupWorkflow

from .test_order_workflow import World, wait_for, world

__all__ = ["world"]  # the fixture, shared with the order workflow tests


def bracket(gid: str, entry: dict[str, Any] | None = None) -> OrderGroupRequest:
    legs = [
        {"role": "ENTRY", "side": "BUY", "quantity": 10, "order_type": "MARKET", **(entry or {})},
        {"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": "110"},
        {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP", "stop_price": "95"},
    ]
    return OrderGroupRequest(group_id=gid, kind="BRACKET", symbol="MSFT", legs=legs, connection_id="conn-1")


def oco(gid: str) -> OrderGroupRequest:
    legs = [{"role": "TAKE_PROFIT", "side": "SELL", "quantity": 10, "order_type": "LIMIT", "limit_price": "110"},
            {"role": "STOP_LOSS", "side": "SELL", "quantity": 10, "order_type": "STOP", "stop_price": "95"}]
    return OrderGroupRequest(group_id=gid, kind="OCO", symbol="MSFT", legs=legs, connection_id="conn-1")


async def start(world: World, group: OrderGroupRequest) -> WorkflowHandle[Any, GroupView]:
    request = OrderGroupInput(group=group, poll_interval_seconds=0.2)
    return await world.env.client.start_workflow(
        OrderGroupWorkflow.run, request, id=order_group_workflow_id(group.group_id), task_queue=world.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def leg_status(handle: WorkflowHandle[Any, GroupView], role: str) -> str:
    view = await handle.query(OrderGroupWorkflow.state)
    return next(str(leg.status) for leg in view.legs if leg.role == role)


def gid() -> str:
    return f"g{uuid.uuid4().hex[:10]}"


async def test_bracket_take_profit_fill_cancels_the_stop_loss(world: World) -> None:
    group = bracket(gid())
    handle = await start(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-sl"), timeout=20)
    assert (await handle.query(OrderGroupWorkflow.state)).path is GroupPath.EMULATED
    tp = world.broker.by_client(f"{group.group_id}-tp")
    assert tp is not None and tp.quantity == 10
    world.broker.fill(tp.broker_order_id, 10, Decimal("110"))
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED" and not view.both_exits_filled
    legs = {str(leg.role): leg for leg in view.legs}
    assert str(legs["TAKE_PROFIT"].status) == "FILLED" and legs["TAKE_PROFIT"].filled_quantity == 10
    assert str(legs["STOP_LOSS"].status) == "CANCELED" and legs["STOP_LOSS"].order_status == "CANCELED"
    sl = world.broker.by_client(f"{group.group_id}-sl")
    assert sl is not None and str(sl.status) == "CANCELED" and sl.filled_quantity == 0
    sent = [o.client_order_id for o in world.broker.received]
    assert sent[0] == f"{group.group_id}-en" and sorted(sent[1:]) == [f"{group.group_id}-{s}" for s in ("sl", "tp")]
    history = [u.status for u in await world.repos.statuses.history(f"{group.group_id}-sl")]
    assert history == ["SUBMITTED", "ACCEPTED", "PENDING_CANCEL", "CANCELED"]


async def test_oco_partial_fill_reduces_the_other_leg_then_the_fill_cancels_it(world: World) -> None:
    group = oco(gid())
    handle = await start(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-sl"), timeout=20)
    sl = world.broker.by_client(f"{group.group_id}-sl")
    assert sl is not None
    world.broker.fill(sl.broker_order_id, 4, Decimal("95"))
    await wait_for(lambda: _replaced(world, f"{group.group_id}-tp"), timeout=20)
    tp_view = next(leg for leg in (await handle.query(OrderGroupWorkflow.state)).legs if leg.role == "TAKE_PROFIT")
    assert tp_view.quantity == 6
    world.broker.fill(sl.broker_order_id, 6, Decimal("95"))
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED"
    legs = {str(leg.role): leg for leg in view.legs}
    assert legs["STOP_LOSS"].filled_quantity == 10 and str(legs["TAKE_PROFIT"].status) == "CANCELED"
    assert legs["TAKE_PROFIT"].filled_quantity == 0


async def test_cancel_before_the_entry_fills_never_places_the_exits(world: World) -> None:
    group = bracket(gid(), {"order_type": "LIMIT", "limit_price": "100"})
    handle = await start(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-en"), timeout=20)
    again = await start(world, group)  # starting twice is one group
    assert again.result_run_id == handle.result_run_id
    view = await handle.execute_update(OrderGroupWorkflow.cancel, CancelRequest(reason="changed my mind"))
    assert view.reason == "changed my mind"
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "CANCELLED"
    assert [str(leg.status) for leg in view.legs] == ["CANCELED", "SKIPPED", "SKIPPED"]
    assert [o.client_order_id for o in world.broker.received] == [f"{group.group_id}-en"]


async def test_a_rejected_entry_fails_the_group(world: World) -> None:
    legs = [  # sells 100 MSFT while 50 are held: the pre-trade check refuses the entry
        {"role": "ENTRY", "side": "SELL", "quantity": 100, "order_type": "MARKET"},
        {"role": "TAKE_PROFIT", "side": "BUY", "quantity": 100, "order_type": "LIMIT", "limit_price": "90"},
        {"role": "STOP_LOSS", "side": "BUY", "quantity": 100, "order_type": "STOP", "stop_price": "105"},
    ]
    group = OrderGroupRequest(group_id=gid(), kind="BRACKET", symbol="MSFT", legs=legs, connection_id="conn-1")
    handle = await start(world, group)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "FAILED"
    assert [str(leg.status) for leg in view.legs] == ["REJECTED", "SKIPPED", "SKIPPED"]
    assert "INSUFFICIENT_POSITION" in (view.legs[0].reason or "")
    assert world.broker.received == []


async def _at_broker(world: World, client_order_id: str) -> bool:
    return world.broker.by_client(client_order_id) is not None


async def _replaced(world: World, client_order_id: str) -> bool:
    return any(old == getattr(world.broker.by_client(client_order_id), "broker_order_id", None)
               for old, _new in world.broker.replaces)


def hold_groups(world: World) -> None:
    """Give the scripted broker native groups: each leg placed as its own resting order (the test couples them)."""
    broker = world.broker

    async def submit_group(group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        for leg in group.legs:
            await broker.submit_order(group.broker_order(leg.role))
        return await get_group_by_client_id(group)

    async def get_group_by_client_id(group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        found = {leg.role: broker.by_client(f"{group.group_id}-{leg.role.suffix}") for leg in group.legs}
        return {role: snapshot for role, snapshot in found.items() if snapshot is not None}

    broker.submit_group = submit_group  # type: ignore[attr-defined]
    broker.get_group_by_client_id = get_group_by_client_id  # type: ignore[attr-defined]


async def start_native(world: World, group: OrderGroupRequest) -> WorkflowHandle[Any, GroupView]:
    hold_groups(world)
    return await _native(world, group)


async def test_native_path_records_each_leg_from_the_brokers_group(world: World) -> None:
    group = bracket(gid())
    handle = await start_native(world, group)

    async def exits_working() -> bool:
        view = await handle.query(OrderGroupWorkflow.state)
        return [str(leg.status) for leg in view.legs] == ["FILLED", "WORKING", "WORKING"]

    await wait_for(exits_working, timeout=20)
    tp, sl = (world.broker.by_client(f"{group.group_id}-{s}") for s in ("tp", "sl"))
    assert tp is not None and sl is not None
    world.broker.fill(tp.broker_order_id, 10, Decimal("110"))
    await world.broker.cancel_order(sl.broker_order_id)  # the broker's OCO, scripted
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED" and view.path is GroupPath.NATIVE
    assert [str(leg.status) for leg in view.legs] == ["FILLED", "FILLED", "CANCELED"]
    assert len(world.broker.received) == 3  # submitted once
    for suffix, fills in (("en", 1), ("tp", 1), ("sl", 0)):
        assert len(await world.repos.executions.list_for_order(f"{group.group_id}-{suffix}")) == fills
    history = [u.status for u in await world.repos.statuses.history(f"{group.group_id}-sl")]
    assert history == ["SUBMITTED", "ACCEPTED", "CANCELED"]


async def test_native_group_cancel_cancels_the_live_legs_at_the_broker(world: World) -> None:
    group = bracket(gid(), {"order_type": "LIMIT", "limit_price": "100"})
    handle = await start_native(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-sl"), timeout=20)
    await handle.execute_update(OrderGroupWorkflow.cancel, CancelRequest(reason="flat"))
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "CANCELLED"
    statuses = {str(world.broker.by_client(f"{group.group_id}-{s}").status)  # type: ignore[union-attr]
                for s in ("en", "tp", "sl")}
    assert statuses == {"CANCELED"}


def lose_the_submit_answer(world: World, *, place: bool, outage: int = 0) -> list[str]:
    """Native groups whose submit ends with the outcome unknown (it stands for retries run out: non-retryable, not
    a refusal); `place`: the broker did take the group; the first `outage` lookups fail. Returns the lookups seen."""
    hold_groups(world)
    broker = world.broker
    submit, lookup = broker.submit_group, broker.get_group_by_client_id  # type: ignore[attr-defined]
    seen: list[str] = []

    async def submit_group(group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        if place:
            await submit(group)
        raise ApplicationError("connection reset before the answer", type="AmbiguousOutcome", non_retryable=True)

    async def get_group_by_client_id(group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        seen.append(group.group_id)
        if len(seen) <= outage:
            raise BrokerUnavailableError("503 from the broker")
        return await lookup(group)  # type: ignore[no-any-return]

    broker.submit_group = submit_group  # type: ignore[attr-defined]
    broker.get_group_by_client_id = get_group_by_client_id  # type: ignore[attr-defined]
    return seen


async def _native(world: World, group: OrderGroupRequest) -> WorkflowHandle[Any, GroupView]:
    request = OrderGroupInput(group=group, poll_interval_seconds=0.2, path=GroupPath.NATIVE)
    return await world.env.client.start_workflow(
        OrderGroupWorkflow.run, request, id=order_group_workflow_id(group.group_id), task_queue=world.task_queue)


async def test_a_native_group_placed_despite_an_unanswered_submit_is_found_by_its_tag_and_followed(
        world: World) -> None:
    seen = lose_the_submit_answer(world, place=True, outage=2)  # one lookup activity fails (2 attempts)
    group = bracket(gid())
    handle = await _native(world, group)

    async def exits_working() -> bool:
        view = await handle.query(OrderGroupWorkflow.state)
        return [str(leg.status) for leg in view.legs] == ["FILLED", "WORKING", "WORKING"]

    await wait_for(exits_working, timeout=30)
    assert len(seen) >= 3  # looked up until the broker answered
    tp, sl = (world.broker.by_client(f"{group.group_id}-{s}") for s in ("tp", "sl"))
    assert tp is not None and sl is not None
    world.broker.fill(tp.broker_order_id, 10, Decimal("110"))
    await world.broker.cancel_order(sl.broker_order_id)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED" and [str(leg.status) for leg in view.legs] == ["FILLED", "FILLED", "CANCELED"]
    assert len(world.broker.received) == 3  # sent once, never again
    for suffix, fills in (("en", 1), ("tp", 1), ("sl", 0)):
        assert len(await world.repos.executions.list_for_order(f"{group.group_id}-{suffix}")) == fills


async def test_a_native_group_the_broker_never_got_is_refused_once_the_broker_says_so(world: World) -> None:
    seen = lose_the_submit_answer(world, place=False, outage=2)
    group = bracket(gid())
    handle = await _native(world, group)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "FAILED" and [str(leg.status) for leg in view.legs] == ["REJECTED", "SKIPPED", "SKIPPED"]
    assert "not submitted" in (view.reason or "") and "connection reset" in (view.reason or ""), view.reason
    assert len(seen) == 3 and world.broker.received == []  # refused only on the broker's "no such group"
