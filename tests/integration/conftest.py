"""Everything under tests/integration talks to real processes: mark it `integration`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from persistence import Repositories
from simulator.testing import running_simulator
from tests.integration.test_cli import CliStack, cli_env
from worker import running_worker

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Add the `integration` marker to the tests of this directory."""
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest_asyncio.fixture(loop_scope="session")
async def stack(temporal_env: WorkflowEnvironment, database_url: str, repositories: Repositories,
                task_queue: str, credentials_key: str, tmp_path: Path) -> AsyncIterator[CliStack]:
    """For the command-line tests: the simulator and a worker, and a way to run the CLI against them.
    (Modules that need another stack define their own `stack`.)"""
    async with (
        running_simulator(autotick=True) as sim,
        running_worker(temporal_env.client, repositories, task_queue),
    ):
        yield CliStack(sim, repositories, cli_env(temporal_env, database_url, task_queue, credentials_key, tmp_path))
