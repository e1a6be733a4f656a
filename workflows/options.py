"""Activity timeouts and retry policies of the order workflow (one place to tune them)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from starter.search_attributes import BROKER, CONNECTION_ID, ORDER_SIDE, ORDER_STATUS, ORDER_TYPE, SYMBOL

__all__ = [
    "BROKER",
    "CONNECTION_ID",
    "FINAL_BROKER_ERRORS",
    "ORDER_SIDE",
    "ORDER_STATUS",
    "ORDER_TYPE",
    "POLL",
    "QUICK",
    "RECORD",
    "SUBMIT",
    "SYMBOL",
]

# Broker failures that are final: retrying cannot change the answer (nothing was placed).
FINAL_BROKER_ERRORS = ("BrokerRejected", "ClientOrderIdConflict", "ConnectionNotFound")

_BROKER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    non_retryable_error_types=list(FINAL_BROKER_ERRORS),
)

# Quick broker calls (session, routing, pre-trade, cancel, replace): bounded by schedule-to-close.
QUICK = {
    "start_to_close_timeout": timedelta(seconds=30),
    "schedule_to_close_timeout": timedelta(minutes=2),
    "retry_policy": _BROKER_RETRY,
}
# Submission: retried (each retry looks the order up first) for up to five minutes; a submit that
# has not answered in 10 s is treated as lost and resolved by lookup on the next attempt.
SUBMIT = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=5),
    "retry_policy": _BROKER_RETRY,
}
# Database writes: retried until PostgreSQL is back; nothing may be lost.
RECORD = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
}
# Polls: a failed poll is simply skipped until the next one.
POLL = {
    "start_to_close_timeout": timedelta(seconds=20),
    "retry_policy": RetryPolicy(maximum_attempts=2, initial_interval=timedelta(seconds=1)),
}
