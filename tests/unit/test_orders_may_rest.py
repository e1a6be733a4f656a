"""When resting orders may leave their following to the connection (poll every `safety_poll_seconds`) and when
they must poll on their own: the answer `poll_order` gives from the supervisor's `health` (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.connection_models import ConnectionHealth, StreamPosition
from activities.sessions import orders_may_rest
from domain.broker_integration import ConnectionStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def health(**fields: object) -> ConnectionHealth:
    data: dict[str, object] = {"connection_id": "c", "status": ConnectionStatus.CONNECTED, "stream_running": True,
                               "reconcile_seconds": 60.0}
    data.update(fields)
    return ConnectionHealth.model_validate(data)


def reconciled(seconds_ago: float) -> StreamPosition:
    return StreamPosition(reconciled_at=NOW - timedelta(seconds=seconds_ago))


def test_a_running_stream_lets_orders_rest_even_while_the_rest_api_is_degraded() -> None:
    assert orders_may_rest(health(), NOW)
    assert orders_may_rest(health(status=ConnectionStatus.DEGRADED), NOW)  # polling harder would add to its load


@pytest.mark.parametrize("fields", [
    {"status": ConnectionStatus.RECONNECTING},
    {"status": ConnectionStatus.FAILED},
    {"status": ConnectionStatus.DISCONNECTED},
    {"paused": True},
    {"shutting_down": True},
], ids=["reconnecting", "failed", "disconnected", "paused", "stopping"])
def test_a_connection_not_in_service_makes_orders_poll(fields: dict[str, object]) -> None:
    assert not orders_may_rest(health(stream=reconciled(5), **fields), NOW)


def test_a_stream_restarting_after_a_failure_but_reconciling_lets_orders_rest() -> None:
    # A broker stream outage: every restart reconciles first, so one pass a minute follows every order.
    down = {"stream_running": False, "stream_error": "trade stream: connection refused"}
    assert orders_may_rest(health(stream=reconciled(90), **down), NOW)
    assert orders_may_rest(health(stream=reconciled(180), **down), NOW)


def test_a_stream_that_has_not_reconciled_for_three_intervals_makes_orders_poll() -> None:
    down = {"stream_running": False, "stream_error": "trade stream: HTTP 401"}
    assert not orders_may_rest(health(stream=reconciled(181), **down), NOW)
    assert not orders_may_rest(health(stream=StreamPosition(), **down), NOW)  # never reconciled
    assert not orders_may_rest(health(stream=reconciled(5), reconcile_seconds=None, **down), NOW)  # an old supervisor
