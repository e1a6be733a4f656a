"""`brokerflow dev up|status|down` on real processes: embedded PostgreSQL and the Temporal dev server.

One stack per module, in a temporary data dir on free ports, so a developer's own stack is untouched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from starter.devstack import StackInfo, database_url_for, stack_status, start_stack, stop_stack
from starter.localtemporal import TemporalStartError, start_dev_server
from starter.paths import StackPaths, read_state, write_state
from starter.processes import is_alive, is_our_process
from starter.search_attributes import SEARCH_ATTRIBUTES
from starter.settings import Settings, libpq_url

pytestmark = pytest.mark.integration

BROKERFLOW = Path(sys.executable).parent / "brokerflow"
OUTSIDE_VARS = ("DATABASE_URL", "TEMPORAL_ADDRESS", "BROKERFLOW_DATABASE_URL", "BROKERFLOW_TEMPORAL_ADDRESS")


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Return the environment of an isolated stack (own data dir and ports, nothing external)."""
    grpc_port, ui_port = free_ports(2)
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_VARS}
    env.setdefault("XDG_RUNTIME_DIR", "/tmp")
    env["BROKERFLOW_DATA_DIR"] = str(tmp_path_factory.mktemp("bf"))
    env["BROKERFLOW_TEMPORAL_PORT"] = str(grpc_port)
    env["BROKERFLOW_TEMPORAL_UI_PORT"] = str(ui_port)
    return env


@pytest.fixture(scope="module")
def settings(stack_env: dict[str, str]) -> Iterator[Settings]:
    """Return settings matching ``stack_env``; stop whatever is left of the stack afterwards."""
    settings = Settings(
        data_dir=Path(stack_env["BROKERFLOW_DATA_DIR"]),
        temporal_port=int(stack_env["BROKERFLOW_TEMPORAL_PORT"]),
        temporal_ui_port=int(stack_env["BROKERFLOW_TEMPORAL_UI_PORT"]),
        database_url=None,
        temporal_address=None,
    )
    yield settings
    stop_stack(settings)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed ``brokerflow`` console script."""
    return subprocess.run([str(BROKERFLOW), *args], env=env, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def stack(settings: Settings, stack_env: dict[str, str]) -> StackInfo:
    """Bring the stack up through the real CLI, then describe it through the Python API."""
    result = cli(stack_env | {"COLUMNS": "200"}, "dev", "up")
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"127.0.0.1:{settings.temporal_port}" in result.stdout
    assert f"http://localhost:{settings.temporal_ui_port}" in result.stdout
    assert "PostgreSQL" in result.stdout
    return start_stack(settings, migrate=False)


def test_up_records_our_processes(stack: StackInfo, settings: Settings) -> None:
    state = read_state(StackPaths.of(settings))
    assert state["postgres"]["pid"] == stack.postgres_pid
    assert state["temporal"]["pid"] == stack.temporal_pid
    assert state["postgres"]["url"] == stack.database_url == database_url_for(settings)
    assert stack.database_url.startswith("postgresql+psycopg://")
    assert is_our_process(stack.temporal_pid, ["start-dev", str(StackPaths.of(settings).temporal_db)])


def test_second_up_reuses_the_running_parts(stack: StackInfo, settings: Settings) -> None:
    again = start_stack(settings, migrate=False)
    assert (again.postgres_pid, again.temporal_pid) == (stack.postgres_pid, stack.temporal_pid)


def test_status_shows_every_part_up(stack: StackInfo, stack_env: dict[str, str]) -> None:
    result = cli(stack_env, "dev", "status", "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    parts = {part["name"]: part for part in json.loads(result.stdout)}
    assert parts["postgresql"]["up"] and parts["postgresql"]["pid"] == stack.postgres_pid
    assert parts["temporal"]["up"] and parts["temporal"]["ui_up"]
    assert parts["temporal"]["endpoint"] == stack.temporal_address


def test_postgresql_answers_real_queries(stack: StackInfo) -> None:
    with psycopg.connect(libpq_url(stack.database_url)) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("brokerflow",)
        conn.execute("CREATE TEMP TABLE probe (n int)")
        conn.execute("INSERT INTO probe VALUES (1), (2)")
        assert conn.execute("SELECT sum(n) FROM probe").fetchone() == (3,)


async def test_temporal_answers_with_our_search_attributes(stack: StackInfo) -> None:
    client = await Client.connect(stack.temporal_address, namespace=stack.temporal_namespace)
    request = ListSearchAttributesRequest(namespace=stack.temporal_namespace)
    response = await client.operator_service.list_search_attributes(request)
    assert set(SEARCH_ATTRIBUTES) <= set(response.custom_attributes)


def test_down_stops_everything_of_ours(stack: StackInfo, settings: Settings, stack_env: dict[str, str]) -> None:
    result = cli(stack_env, "dev", "down")
    assert result.returncode == 0, result.stderr + result.stdout
    assert stack.postgres_pid is not None and stack.temporal_pid is not None
    assert not is_alive(stack.postgres_pid) and not is_alive(stack.temporal_pid)
    assert not StackPaths.of(settings).state_file.exists()
    assert not any(part.up for part in stack_status(settings))
    assert cli(stack_env, "dev", "status").returncode == 1


def test_down_never_stops_a_process_that_is_not_ours(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=None, temporal_address=None)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        record = {"pid": stranger.pid, "pgdata": str(tmp_path / "postgres"), "url": "postgresql://x"}
        write_state(StackPaths.of(settings), {"postgres": record, "temporal": record})
        assert stop_stack(settings) == []
        assert stranger.poll() is None
        assert not StackPaths.of(settings).state_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_busy_port_gives_a_clear_error(tmp_path: Path) -> None:
    grpc_port, ui_port = free_ports(2)
    settings = Settings(data_dir=tmp_path, temporal_port=grpc_port, temporal_ui_port=ui_port)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ui_port))
        squatter.listen()
        with pytest.raises(TemporalStartError, match=f"port {ui_port} is already in use"):
            start_dev_server(settings, StackPaths.of(settings))
