"""`brokerflow connection up|health|pause|resume|reconnect|down` as subprocesses: a worker, the simulator.

Each CLI run costs a Python start, so one test walks a supervisor's whole life in nine invocations.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio.testing import WorkflowEnvironment

from domain.broker_integration import ConnectionStatus
from starter.connection_views import NO_SUPERVISOR, supervisor_status
from starter.connections import ConnectionClient
from tests.integration.test_cli import CliStack

CONN = "alpaca-sim"


async def _until_checked(connections: ConnectionClient, timeout: float = 20) -> None:
    """Wait for the supervisor's first health check, so `health` has a latency to show."""
    for _ in range(int(timeout / 0.1)):
        if (await connections.health(CONN)).metrics.checks:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no health check ran")


async def test_supervisor_up_health_pause_resume_reconnect_down(
        stack: CliStack, temporal_env: WorkflowEnvironment, task_queue: str) -> None:
    unknown = await stack.run("connection", "up", "nope", "--json")
    assert unknown.code == 2 and "'nope' is not registered" in unknown.err and unknown.out == ""

    added = await stack.run("connection", "add", CONN, "--broker", "alpaca", "--base-url", stack.sim.base_url,
                            "--json", APCA_API_KEY_ID="SIMKEY", APCA_API_SECRET_KEY="SIMSECRET")
    assert added.json()["credentials"] == "stored"

    # Without the stream: stopping it waits for its next heartbeat (SDK throttling, up to 24 s by default).
    up = (await stack.run("connection", "up", CONN, "--check-interval", "0.3", "--no-stream", "--wait",
                          "--timeout", "20", "--json")).json()
    assert up["started"] is True and up["workflow_id"] == f"connection-{CONN}"
    assert up["ui_url"].endswith(f"/namespaces/default/workflows/connection-{CONN}")
    assert up["health"]["status"] == "CONNECTED" and up["health"]["reason"] is None
    connections = ConnectionClient(temporal_env.client, task_queue)
    assert await supervisor_status(connections, CONN, 5) == "CONNECTED"  # what `connection list` shows

    await _until_checked(connections)
    health = (await stack.run("connection", "health", CONN, "--json")).json()
    assert (health["status"], health["paused"], health["error_rate"], health["open_alerts"]) == (
        "CONNECTED", False, 0.0, [])
    assert health["metrics"]["checks"] >= 1 and isinstance(health["metrics"]["last_latency_ms"], float)
    assert datetime.fromisoformat(health["last_check_at"]) and health["stream"]["forwarded"] == 0
    assert health["stream_running"] is False and health["metrics"]["avg_latency_ms"] is not None
    assert health["ui_url"] == up["ui_url"]

    paused = (await stack.run("connection", "pause", CONN, "--reason", "maintenance", "--json")).json()
    assert paused["paused"] is True and paused["change"] == "pause"
    again = await stack.run("connection", "pause", CONN)
    assert again.code == 1 and "refused" in again.err and "paused already" in again.err
    assert await supervisor_status(connections, CONN, 5) == "CONNECTED (paused)"

    resumed = await stack.run("connection", "resume", CONN)  # the table, for once
    assert resumed.code == 0 and "Resume accepted: alpaca-sim" in resumed.out and "(paused)" not in resumed.out
    reconnected = (await stack.run("connection", "reconnect", CONN, "--json")).json()
    assert reconnected["status"] == "CONNECTED" and reconnected["metrics"]["reconnects"] >= 1

    stopped = (await stack.run("connection", "down", CONN, "--reason", "cli test", "--json")).json()
    assert stopped["status"] == "DISCONNECTED" and "cli test" in stopped["reason"] and stopped["open_alerts"] == []
    recorded = await stack.repos.connections.get(CONN)
    assert recorded is not None and recorded.status is ConnectionStatus.DISCONNECTED
    assert await supervisor_status(connections, CONN, 5) == NO_SUPERVISOR
