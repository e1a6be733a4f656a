"""The supervisor commands of `brokerflow connection` without servers: options, rendering, unreachable Temporal."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from activities.connection_models import ConnectionHealth, HealthMetrics, StreamPosition
from domain.broker_integration import ConnectionStatus
from starter import connection_cli, connection_supervisor_cli, output
from starter.connection_views import health_record, show_health
from starter.settings import Settings, get_settings

AT = datetime(2024, 5, 6, 14, 30, tzinfo=UTC)
HEALTH = ConnectionHealth(
    connection_id="alpaca-x", status=ConnectionStatus.DEGRADED, reason="slow: 2500 ms", paused=True,
    status_since=AT, last_check_at=AT, error_rate=0.25, consecutive_failures=1, stream_running=False,
    stream_error="socket closed", stream=StreamPosition(last_event_at=AT, forwarded=7, reconciled=2),
    open_alerts=["connection_degraded"], runs=3,
    metrics=HealthMetrics(checks=4, failures=1, reconnects=2, last_latency_ms=2500.0, max_latency_ms=2500.0,
                          latency_total_ms=3000.0),
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No brokerflow variables; a Temporal address where nothing listens; no process-exit workaround."""
    for name in list(os.environ):
        if name.startswith("BROKERFLOW_") or name in ("DATABASE_URL", "TEMPORAL_ADDRESS"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path))
    # In-process runs must not arm exit_process's os._exit for the rest of the test session.
    monkeypatch.setattr(connection_supervisor_cli, "note_native_client", lambda: None)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(connection_cli.app, list(args))
    return result.exit_code, result.output


def test_the_connection_group_lists_every_supervisor_command() -> None:
    code, out = invoke("--help")
    assert code == 0
    assert all(c in out for c in ("add", "list", "up", "down", "health", "pause", "resume", "reconnect"))


@pytest.mark.parametrize("args", [
    ("up",), ("up", "alpaca-x", "--check-interval", "0"), ("up", "alpaca-x", "--timeout", "-1"),
    ("health",), ("pause",), ("down", "alpaca-x", "--timeout", "abc"),
])
def test_bad_arguments_exit_2_without_touching_a_server(args: tuple[str, ...]) -> None:
    code, out = invoke(*args)
    assert code == 2 and "cannot reach Temporal" not in out


@pytest.mark.parametrize("command", ["health", "pause", "resume", "reconnect", "down"])
def test_unreachable_temporal_exits_1_with_the_address(command: str) -> None:
    code, out = invoke(command, "alpaca-x")
    assert code == 1 and "cannot reach Temporal at 127.0.0.1:9" in out


def test_health_json_has_strings_for_times_and_the_average_latency() -> None:
    record = health_record(Settings(temporal_address=None), HEALTH)
    assert record["status"] == "DEGRADED" and record["status_since"] == AT.isoformat()
    assert record["stream"]["last_event_at"] == AT.isoformat() and record["stream"]["forwarded"] == 7
    assert record["metrics"]["avg_latency_ms"] == 1000.0 and record["open_alerts"] == ["connection_degraded"]
    assert record["ui_url"] == "http://localhost:8233/namespaces/default/workflows/connection-alpaca-x"
    json.dumps(record)


def test_health_table_shows_status_reason_latency_stream_and_alerts(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "_width", 200)  # no folded cells, whatever the terminal
    show_health(Settings(temporal_address=None), HEALTH, as_json=False)
    out = capsys.readouterr().out
    for text in ("DEGRADED (paused)", "slow: 2500 ms", "25% (1 failed in a row)", "stopped (socket closed)",
                 "7 forwarded, 2 reconciled, 0 resumes", "connection_degraded", "1000 ms / 2500 ms", "4 (1 failed)",
                 "workflows/connection-alpaca-x"):
        assert text in out, text
