"""The short `make chaos`: the whole stack as processes, every kind of fault once, three views compared."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from chaos.faults import FAULT_KINDS
from chaos.run import ChaosOptions, run_chaos


async def test_a_short_chaos_run_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    report = tmp_path / "chaos.json"
    console = Console(record=True, width=160)
    result = await run_chaos(ChaosOptions(orders=40, seed=20261126, rate=6.0, random_faults=2, drain_timeout=180,
                                          report=report), console)
    printed = console.export_text()
    assert result.faults == {kind: result.faults[kind] for kind in FAULT_KINDS}  # every kind was in the plan
    assert all(count >= 1 for count in result.faults.values()), result.faults
    failed = [f"{c.name}: {c.figure} {c.detail}" for c in result.verdict.checks if not c.passed]
    assert result.passed, "\n".join(failed) + "\n" + printed
    data = json.loads(report.read_text())
    assert data["passed"] is True and len(data["orders"]) == 40
    # The broker saw every order that reached it exactly once, and every fill it made is recorded once.
    assert all(int(o["placements"]) <= 1 for o in data["orders"])
    assert sum(int(o["broker_fills"]) for o in data["orders"]) == sum(int(o["db_fills"]) for o in data["orders"]) > 0
    assert "three views: broker, database, workflows" in printed and f"seed {result.seed}" in printed
