"""OrderClient.submit_and_wait_for_ack asks again when Temporal refuses the update because the order's workflow
task is in a failed state (a busy worker let it time out; the server runs it again), and only then."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from activities.models import OrderRequest
from starter.orders import OrderClient

NOT_READY = "Unable to perform workflow execution update due to Workflow Task in failed state."


class _Client:
    def __init__(self, failures: list[RPCError]) -> None:
        self.failures = failures
        self.calls: list[str] = []

    async def execute_update_with_start_workflow(self, update: Any, *, start_workflow_operation: Any,
                                                 rpc_timeout: Any) -> Any:
        self.calls.append(start_workflow_operation._start_workflow_input.id)
        if self.failures:
            raise self.failures.pop(0)
        return "the acknowledged view"


def _request() -> OrderRequest:
    return OrderRequest(client_order_id="c-1", symbol="AAPL", side="BUY", quantity=1, connection_id="conn-1")


async def test_a_workflow_task_in_failed_state_is_asked_again_with_the_same_workflow_id() -> None:
    client = _Client([RPCError(NOT_READY, RPCStatusCode.FAILED_PRECONDITION, b""),
                      RPCError(NOT_READY, RPCStatusCode.FAILED_PRECONDITION, b"")])
    view = await OrderClient(client, "tq").submit_and_wait_for_ack(_request(), timeout=10)  # type: ignore[arg-type]
    assert view == "the acknowledged view"
    assert client.calls == ["order-c-1"] * 3  # one order, asked three times


async def test_other_refusals_are_raised_at_once() -> None:
    client = _Client([RPCError("namespace not found", RPCStatusCode.NOT_FOUND, b"")])
    with pytest.raises(RPCError, match="namespace not found"):
        await OrderClient(client, "tq").submit_and_wait_for_ack(_request(), timeout=10)  # type: ignore[arg-type]
    assert len(client.calls) == 1
