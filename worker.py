"""The brokerflow worker: registers the workflows and activities and wires gateways and repositories.

Run with `brokerflow worker` (or `python worker.py`); stops gracefully on SIGTERM and SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.auth_plugins import AuthPlugins
from activities.connection_activities import ConnectionActivities
from activities.group_activities import GroupActivities
from activities.order_activities import OrderActivities
from activities.sessions import SessionPool
from brokers.registry import GatewayRegistry, SystemClock
from domain.broker_integration import Clock, GatewayProvider
from persistence.repositories.connection_health import ConnectionStores
from starter.settings import MAX_CACHED_WORKFLOWS

__all__ = ["RunningWorker", "build_worker", "compile_workflow_modules", "main", "run", "running_worker"]

log = logging.getLogger("brokerflow.worker")


def _workflows() -> list[type]:
    from workflows.connection_supervisor import ConnectionSupervisorWorkflow
    from workflows.order_group import OrderGroupWorkflow
    from workflows.order_workflow import OrderWorkflow

    return [OrderWorkflow, ConnectionSupervisorWorkflow, OrderGroupWorkflow]


def compile_workflow_modules() -> None:
    """Write the workflow modules' bytecode (`__pycache__`) once, whatever PYTHONDONTWRITEBYTECODE says.

    The workflow sandbox imports the workflow modules afresh for every workflow run it starts. Without
    bytecode on disk (PYTHONDONTWRITEBYTECODE, as in this machine's shell, CI and the Dockerfile's
    environment, over an editable checkout) each of those imports compiles the source again: about 15 ms of
    worker CPU per order (issue 10). A read-only directory is no error (compileall reports it by its
    answer, not by raising): the worker runs as before.
    """
    import compileall

    import workflows

    if not compileall.compile_dir(Path(workflows.__file__).parent, maxlevels=0, quiet=2):
        log.info("workflow bytecode not written: the sandbox compiles the workflow modules for every run")


def build_worker(
    client: Client,
    repositories: Any,
    provider: GatewayProvider,
    clock: Clock,
    task_queue: str,
    *,
    max_concurrent_activities: int = 100,
    max_concurrent_workflow_tasks: int = 100,
    max_cached_workflows: int = MAX_CACHED_WORKFLOWS,
    stores: ConnectionStores | None = None,
    plugins: AuthPlugins | None = None,
) -> tuple[Worker, SessionPool]:
    """A worker for the order workflows with activities bound to `repositories` and `provider`."""
    compile_workflow_modules()
    sessions = SessionPool(repositories.connections, provider, clock)
    activities = OrderActivities(repositories, sessions)
    connections = ConnectionActivities(repositories, sessions, stores, plugins)
    groups = GroupActivities(repositories, sessions)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=_workflows(),
        activities=[*activities.methods(), *connections.methods(), *groups.methods()],
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_workflow_tasks=max_concurrent_workflow_tasks,
        # Past the cache, each wake-up of an evicted order (a fill, a safety poll) replays its history.
        max_cached_workflows=max_cached_workflows,
        graceful_shutdown_timeout=timedelta(seconds=10),
        # Heartbeats carry cancellation: a stream activity learns it must stop within ~2 s, not 0.8 x timeout.
        max_heartbeat_throttle_interval=timedelta(seconds=2),
    )
    return worker, sessions


@dataclass
class RunningWorker:
    """A worker that is polling, with the session pool and gateway registry it owns."""

    worker: Worker
    sessions: SessionPool
    registry: GatewayRegistry


@asynccontextmanager
async def running_worker(
    client: Client, repositories: Any, task_queue: str, *, registry: GatewayRegistry | None = None,
    **options: Any,
) -> AsyncIterator[RunningWorker]:
    """Run a worker (gateways from a registry reading credentials from `repositories`) until the block ends."""
    registry = registry or GatewayRegistry(credentials=repositories.connections.get_credentials)
    worker, sessions = build_worker(client, repositories, registry, SystemClock(), task_queue, **options)
    try:
        async with worker:
            yield RunningWorker(worker, sessions, registry)
    finally:
        await sessions.close()
        await registry.aclose()


async def run() -> None:
    """Connect to Temporal and PostgreSQL from the settings and run until SIGTERM/SIGINT."""
    from brokers.registry import install_defaults
    from persistence import open_repositories
    from persistence.migrate import upgrade
    from starter.client import connect
    from starter.devstack import database_url_for
    from starter.settings import get_settings

    settings = get_settings()
    database_url = database_url_for(settings)
    await asyncio.to_thread(upgrade, database_url)
    client = await connect(settings, serve_metrics=True)
    if settings.metrics_port is not None:
        log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
    repositories = await open_repositories(database_url, data_dir=settings.resolved_data_dir)
    registry = install_defaults(credentials=repositories.connections.get_credentials)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %s", settings.task_queue)
    async with running_worker(
        client, repositories, settings.task_queue, registry=registry,
        max_concurrent_activities=settings.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_cached_workflows=settings.max_cached_workflows,
    ):
        await stop.wait()
        log.info("shutting down: finishing in-flight activities")
    await repositories.close()


def main() -> None:
    """Entry point of `brokerflow worker`: logging (text or JSON, redacted) from the settings, then run."""
    from observability.logs import configure_logging
    from starter.settings import get_settings

    settings = get_settings()
    held = (settings.secret_key, settings.temporal_api_key, settings.codec_keys, settings.codec_token)
    secrets = [s.get_secret_value() for s in held if s is not None]
    configure_logging(settings.log_format, settings.log_level, secrets=secrets)
    asyncio.run(run())


if __name__ == "__main__":
    main()
