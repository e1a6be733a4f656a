"""Replay every saved OrderWorkflow history: a code change that breaks determinism fails the build.

Histories are recorded by `BROKERFLOW_RECORD_HISTORIES=1 pytest tests/workflows/test_order_workflow.py`;
record new ones when behaviour changes on purpose (and use workflow.patched() for running orders).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.order_workflow import OrderWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "resources" / "histories").glob("*.json"))


def test_histories_are_present() -> None:
    assert len(HISTORIES) >= 5, "record histories: BROKERFLOW_RECORD_HISTORIES=1 pytest tests/workflows"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_saved_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(f"order-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
