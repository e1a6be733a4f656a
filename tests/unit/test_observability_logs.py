"""Logging: JSON lines with the Temporal ids of the running activity or workflow; secrets redacted."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator

import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from observability.logs import REDACTED, ContextFilter, configure_logging, redact, register_secret

log = logging.getLogger("brokerflow.orders")


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, logging.Handler]]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    yield stream, configure_logging("json", "INFO", stream=stream)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /v2/account headers={'Authorization': 'Bearer eyJhbGciOi.payload.sig'}", "eyJhbGciOi.payload.sig"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ('{"APCA-API-KEY-ID": "PKTEST1234", "APCA-API-SECRET-KEY": "sEcReT/5678+xyz"}', "sEcReT/5678+xyz"),
        ('{"APCA-API-KEY-ID": "PKTEST1234", "APCA-API-SECRET-KEY": "sEcReT/5678+xyz"}', "PKTEST1234"),
        ("login api_key=PK99 api_secret=topsecret99 ok", "topsecret99"),
        ("refresh_token: rt-abcdef123&grant=refresh", "rt-abcdef123"),
        ("account {'account_number': 'PA3KXY12Z9', 'status': 'ACTIVE'}", "PA3KXY12Z9"),
        ("codec token=tok_live_abcdef0123", "tok_live_abcdef0123"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_redact_keeps_ordinary_text() -> None:
    text = "order my-order-1 FILLED 10 @ 150.00 (auth_method=api_key, tokens used: 3)"
    assert redact(text) == text


def test_registered_secret_values_are_redacted_anywhere() -> None:
    register_secret("zq9-very-private-value")
    assert redact("key material zq9-very-private-value leaked") == f"key material {REDACTED} leaked"


async def test_json_lines_inside_an_activity_carry_the_order_ids(
    captured: tuple[io.StringIO, logging.Handler],
) -> None:
    stream, _ = captured

    @activity.defn(name="record_order")
    async def record_order() -> None:
        log.warning("stored order with headers %s", {"Authorization": "Bearer abcdefgh12345678"})

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id="order-my-order-7", workflow_type="OrderWorkflow",
                                   activity_type="record_order", workflow_run_id="run-1", attempt=2)
    await env.run(record_order)
    log.info("outside any activity")
    inside, outside = lines(stream)
    assert inside["workflow_id"] == "order-my-order-7"
    assert inside["client_order_id"] == "my-order-7"
    assert inside["activity_type"] == "record_order" and inside["attempt"] == 2
    assert inside["level"] == "WARNING" and inside["logger"] == "brokerflow.orders"
    assert "abcdefgh12345678" not in stream.getvalue() and REDACTED in str(inside["message"])
    assert "workflow_id" not in outside and outside["message"] == "outside any activity"


def test_workflow_logger_details_become_fields(captured: tuple[io.StringIO, logging.Handler]) -> None:
    stream, _ = captured
    details = {"workflow_id": "connection-sim", "workflow_type": "ConnectionSupervisorWorkflow",
               "run_id": "r-9", "namespace": "default", "task_queue": "brokerflow-orders", "attempt": 1}
    logging.getLogger("temporalio.workflow").warning("degraded", extra={"temporal_workflow": details})
    (line,) = lines(stream)
    assert (line["workflow_id"], line["connection_id"], line["run_id"]) == ("connection-sim", "sim", "r-9")
    assert "temporal_workflow" not in line


def test_exceptions_are_redacted(captured: tuple[io.StringIO, logging.Handler]) -> None:
    stream, _ = captured
    try:
        raise RuntimeError("auth failed for api_secret=hunter2hunter2")
    except RuntimeError:
        log.exception("connect failed")
    (line,) = lines(stream)
    assert "hunter2hunter2" not in stream.getvalue()
    assert "RuntimeError" in str(line["exception"])


def test_text_format_appends_ids_and_redacts() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("text", "INFO", stream=stream)
    try:
        record = logging.LogRecord("brokerflow.orders", logging.INFO, __file__, 1, "token=%s", ("abc123456789",),
                                   None)
        record.temporal_activity = {"workflow_id": "order-x1", "workflow_type": "OrderWorkflow",
                                    "activity_type": "submit_order", "attempt": 1}
        assert ContextFilter().filter(record)
        text = handler.format(record)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    assert "abc123456789" not in text
    assert "[workflow_id=order-x1" in text and "client_order_id=x1" in text and "activity_type=submit_order" in text


def test_configure_logging_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    level = root.level
    first = configure_logging("text", stream=io.StringIO())
    second = configure_logging("json", "DEBUG", stream=io.StringIO())
    try:
        assert first not in root.handlers and second in root.handlers
        assert root.level == logging.DEBUG
    finally:
        root.removeHandler(second)
        root.setLevel(level)
