"""Replay saved OrderGroupWorkflow histories (native and emulated): a group code change that breaks
determinism fails the build. New group behaviour goes behind `workflow.patched()`.

Histories are recorded by `BROKERFLOW_RECORD_HISTORIES=1 pytest tests/workflows/test_group_replay.py`
(into BROKERFLOW_GROUP_HISTORIES_DIR when set, so the saved ones stay as they were).
"""

from __future__ import annotations

import asyncio
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.group_models import GroupView
from workflows.order_group import OrderGroupWorkflow
from workflows.order_workflow import OrderWorkflow

from .test_order_group import _at_broker, _native, bracket, gid, lose_the_submit_answer, oco, start, start_native
from .test_order_workflow import World, _decoded, wait_for, world

__all__ = ["world"]

SAVED = Path(__file__).resolve().parents[1] / "resources" / "group_histories"
RECORD_TO = Path(os.environ.get("BROKERFLOW_GROUP_HISTORIES_DIR") or SAVED)
HISTORIES = sorted(SAVED.glob("*.json"))


async def _save(world: World, handle: WorkflowHandle[Any, GroupView], name: str) -> None:
    if not os.environ.get("BROKERFLOW_RECORD_HISTORIES"):
        return
    RECORD_TO.mkdir(parents=True, exist_ok=True)
    history = await handle.fetch_history()
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")
    (RECORD_TO / f"{stem}.json").write_text(await _decoded(world, history.to_json()))


async def test_record_native_bracket(world: World) -> None:
    group = bracket(gid())
    handle = await start_native(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-tp"), timeout=20)
    tp = world.broker.by_client(f"{group.group_id}-tp")
    sl = world.broker.by_client(f"{group.group_id}-sl")
    assert tp is not None and sl is not None
    world.broker.fill(tp.broker_order_id, 10, Decimal("110"))
    await world.broker.cancel_order(sl.broker_order_id)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED"
    await _save(world, handle, "native_bracket")


async def test_record_emulated_oco(world: World) -> None:
    group = oco(gid())
    handle = await start(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-sl"), timeout=20)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-tp"), timeout=20)
    sl = world.broker.by_client(f"{group.group_id}-sl")
    assert sl is not None
    world.broker.fill(sl.broker_order_id, 10, Decimal("95"))
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "COMPLETED"
    await _save(world, handle, "emulated_oco")


async def test_record_native_bracket_resolved_after_an_unanswered_submit(world: World) -> None:
    lose_the_submit_answer(world, place=True, outage=2)
    group = bracket(gid(), {"order_type": "LIMIT", "limit_price": "100"})
    handle = await _native(world, group)
    await wait_for(lambda: _at_broker(world, f"{group.group_id}-sl"), timeout=30)
    en = world.broker.by_client(f"{group.group_id}-en")
    assert en is not None
    await world.broker.cancel_order(en.broker_order_id)
    for suffix in ("tp", "sl"):
        leg = world.broker.by_client(f"{group.group_id}-{suffix}")
        assert leg is not None
        await world.broker.cancel_order(leg.broker_order_id)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.status == "CANCELLED", view
    await _save(world, handle, "native_bracket_resolved_after_unanswered_submit")


def test_group_histories_are_present() -> None:
    assert len(HISTORIES) >= 2, "record: BROKERFLOW_RECORD_HISTORIES=1 pytest tests/workflows/test_group_replay.py"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_group_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"order-group-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[OrderGroupWorkflow, OrderWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
