"""ConnectionClient: the Python API that starts, steers and inspects connection supervisors."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.connection_models import (
    ConnectionHealth,
    PauseRequest,
    ReconnectRequest,
    ResumeRequest,
    ShutdownRequest,
    SupervisorConfig,
)
from workflows.connection_state import SupervisorInput
from workflows.connection_supervisor import ConnectionSupervisorWorkflow, connection_workflow_id

from .settings import Settings, get_settings

__all__ = ["ConnectionChangeRejectedError", "ConnectionClient", "SupervisorNotFoundError"]


class SupervisorNotFoundError(LookupError):
    """No running supervisor for that connection."""


class ConnectionChangeRejectedError(RuntimeError):
    """A pause, resume or reconnect was refused (e.g. pausing a paused connection)."""


class ConnectionClient:
    """Bring connections up and down, ask their health, pause, resume and reconnect them."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> ConnectionClient:
        """A client for the configured Temporal server and task queue."""
        from .client import connect

        settings = settings or get_settings()
        return cls(await connect(settings), settings.task_queue)

    def handle(self, connection_id: str) -> WorkflowHandle[Any, ConnectionHealth]:
        """The supervisor's workflow handle."""
        return self.client.get_workflow_handle_for(ConnectionSupervisorWorkflow.run,
                                                   connection_workflow_id(connection_id))

    async def up(self, connection_id: str, config: SupervisorConfig | None = None) -> str:
        """Start the connection's supervisor (a running one is kept); return its workflow id."""
        request = SupervisorInput(connection_id=connection_id, config=config or SupervisorConfig())
        handle = await self.client.start_workflow(
            ConnectionSupervisorWorkflow.run, request, id=connection_workflow_id(connection_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"supervisor of connection {connection_id}",
        )
        return handle.id

    async def down(self, connection_id: str, reason: str | None = None, wait: float | None = 30.0
                   ) -> ConnectionHealth | None:
        """Stop the supervisor; with `wait`, return its final health once it has stopped."""
        handle = self.handle(connection_id)
        try:
            await handle.signal(ConnectionSupervisorWorkflow.shutdown, ShutdownRequest(reason=reason))
        except RPCError as exc:
            raise self._not_found(connection_id, exc) from exc
        if wait is None:
            return None
        return await asyncio.wait_for(handle.result(), wait)

    async def health(self, connection_id: str) -> ConnectionHealth:
        """The supervisor's current view of the connection."""
        try:
            health: ConnectionHealth = await self.handle(connection_id).query(ConnectionSupervisorWorkflow.health)
        except RPCError as exc:
            raise self._not_found(connection_id, exc) from exc
        return health

    async def pause(self, connection_id: str, reason: str | None = None, update_id: str | None = None
                    ) -> ConnectionHealth:
        """Suspend checks, reconnects and the stream."""
        return await self._update(connection_id, ConnectionSupervisorWorkflow.pause, PauseRequest(reason=reason),
                                  update_id)

    async def resume(self, connection_id: str, reason: str | None = None, update_id: str | None = None
                     ) -> ConnectionHealth:
        """Resume supervision."""
        return await self._update(connection_id, ConnectionSupervisorWorkflow.resume,
                                  ResumeRequest(reason=reason), update_id)

    async def reconnect(self, connection_id: str, reason: str | None = None, update_id: str | None = None
                        ) -> ConnectionHealth:
        """Log in again now; answers with the health after the attempt."""
        return await self._update(connection_id, ConnectionSupervisorWorkflow.reconnect,
                                  ReconnectRequest(reason=reason), update_id)

    async def list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Supervisors, newest first: connection id, ConnectionStatus and workflow status."""
        rows: list[dict[str, Any]] = []
        query = "WorkflowType = 'ConnectionSupervisorWorkflow'"
        async for execution in self.client.list_workflows(query, limit=limit):
            status = (execution.search_attributes.get("ConnectionStatus") or ["DISCONNECTED"])[0]
            rows.append({"connection_id": execution.id.removeprefix("connection-"), "status": status,
                         "workflow": execution.status.name if execution.status else "",
                         "started": execution.start_time})
        return rows

    async def _update(self, connection_id: str, update: Any, arg: Any, update_id: str | None) -> ConnectionHealth:
        try:
            health: ConnectionHealth = await self.handle(connection_id).execute_update(
                update, arg, id=update_id or f"conn-{uuid.uuid4().hex}", rpc_timeout=timedelta(seconds=60))
        except WorkflowUpdateFailedError as exc:
            raise ConnectionChangeRejectedError(str(getattr(exc.cause, "message", None) or exc)) from exc
        except RPCError as exc:
            raise self._not_found(connection_id, exc) from exc
        return health

    @staticmethod
    def _not_found(connection_id: str, exc: RPCError) -> Exception:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return SupervisorNotFoundError(f"no supervisor running for connection {connection_id}")
        return exc
