"""The domain's ConnectionSupervisor port on Temporal: an established connection gets its supervisor workflow."""

from __future__ import annotations

from temporalio.client import Client

from domain.broker_integration import runtime

from .connections import ConnectionClient

__all__ = ["TemporalConnectionSupervisor", "install_supervisor"]


class TemporalConnectionSupervisor:
    """Starts (or keeps) the ConnectionSupervisorWorkflow `connection-<id>` on the task queue."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self._connections = ConnectionClient(client, task_queue)

    async def ensure_supervised(self, connection_id: str) -> None:
        """Start the supervisor unless one runs already (idempotent)."""
        await self._connections.up(connection_id)


def install_supervisor(client: Client, task_queue: str) -> TemporalConnectionSupervisor:
    """Make BrokerConnectionManager.establish_connection start supervisors in this process."""
    supervisor = TemporalConnectionSupervisor(client, task_queue)
    runtime.configure(supervisor=supervisor)
    return supervisor
