"""`brokerflow alerts list|ack|resolve` as subprocesses on real PostgreSQL: the alert lifecycle and bad input."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment

from persistence import Repositories
from persistence.repositories.connection_health import stores_for
from tests.integration.test_cli import ROOT, Run, cli_env


async def run(env: dict[str, str], *args: str) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", "alerts", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return Run(proc.returncode or 0, out.decode(), err.decode())


async def listed(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    result = await run(env, "list", "--json", *args)
    assert result.code == 0, result.err
    records: list[dict[str, Any]] = json.loads(result.out)
    return records


async def test_alerts_are_listed_acknowledged_and_resolved(
        temporal_env: WorkflowEnvironment, database_url: str, repositories: Repositories, task_queue: str,
        credentials_key: str, tmp_path: Path) -> None:
    env = cli_env(temporal_env, database_url, task_queue, credentials_key, tmp_path)
    store = stores_for(repositories).alerts
    spike, _ = await store.raise_alert("latency_spike", "connection:sim", "WARNING", "acknowledged after 2600 ms")
    outlier, _ = await store.raise_alert("order_price_outlier", "order:c1", "CRITICAL", "300 bps off")

    opened = await listed(env)
    assert [a["kind"] for a in opened] == ["order_price_outlier", "latency_spike"]  # newest first
    assert {a["status"] for a in opened} == {"open"}
    assert [a["id"] for a in await listed(env, "--kind", "latency_spike")] == [spike.id]

    acked = await run(env, "ack", spike.id, "--by", "alice", "--json")
    assert acked.code == 0, acked.err
    assert json.loads(acked.out)["status"] == "acknowledged" and json.loads(acked.out)["acknowledged_by"] == "alice"
    assert [a["id"] for a in await listed(env, "--status", "acknowledged")] == [spike.id]
    assert [a["id"] for a in await listed(env)] == [outlier.id]
    # Acknowledged is still unresolved: the same anomaly again does not open a second alert.
    again, created = await store.raise_alert("latency_spike", "connection:sim", "WARNING", "again")
    assert not created and again.id == spike.id

    resolved = await run(env, "resolve", spike.id, "--by", "bob")
    assert resolved.code == 0 and "resolved by bob" in resolved.out
    (record,) = await listed(env, "--status", "resolved")
    assert record["id"] == spike.id and record["acknowledged_by"] == "alice" and record["resolved_by"] == "bob"
    # Resolved: the next occurrence is a new alert.
    fresh, created = await store.raise_alert("latency_spike", "connection:sim", "WARNING", "third time")
    assert created and fresh.id != spike.id
    assert len(await listed(env, "--status", "all")) == 3

    table = await run(env, "list", "--status", "all")
    assert table.code == 0 and "latency_spike" in table.out and "order_price_outlier" in table.out


async def test_bad_input_is_refused_and_changes_nothing(
        temporal_env: WorkflowEnvironment, database_url: str, repositories: Repositories, task_queue: str,
        credentials_key: str, tmp_path: Path) -> None:
    env = cli_env(temporal_env, database_url, task_queue, credentials_key, tmp_path)
    store = stores_for(repositories).alerts
    alert, _ = await store.raise_alert("order_not_filling", "order:c2", "WARNING", "not filling")
    await store.resolve(alert.id, "carol")

    late_ack = await run(env, "ack", alert.id)
    assert late_ack.code == 2 and "resolved" in late_ack.err
    unknown = await run(env, "ack", "00000000-0000-0000-0000-000000000000")
    assert unknown.code == 2 and "no alert" in unknown.err
    not_an_id = await run(env, "resolve", "abc")
    assert not_an_id.code == 2 and "no alert" in not_an_id.err
    bad_status = await run(env, "list", "--status", "closed")
    assert bad_status.code == 2
    blank = await run(env, "ack", alert.id, "--by", " ")
    assert blank.code == 2 and "--by" in blank.err
    (stored,) = await store.list_alerts("all")
    assert stored.resolved_by == "carol" and stored.acknowledged_at is None
