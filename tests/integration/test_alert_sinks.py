"""Alert sinks against real local HTTP receivers: a signed JSON webhook, a chat webhook, a failing receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import alerting
from activities.order_activities import store_alerts
from alerting import AlertDispatcher, ChatSink, LogSink, WebhookSink, dispatcher_from_settings
from domain.broker_integration.rules.anomalies import Alert as Finding
from domain.broker_integration.rules.anomalies import Severity
from persistence.repositories.alerts import Alert, InMemoryAlertRepository
from starter.settings import get_settings

SECRET = "whsec-test-1234"


@dataclass
class Receiver:
    """A webhook endpoint: checks the signature, answers `status`, and can hold requests until released."""

    status: int = 200
    hold: asyncio.Event | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        self.headers.append(dict(request.headers))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        given = request.headers.get("x-brokerflow-signature")
        if given is not None and not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "bad signature"}, 401)
        self.received.append(json.loads(body))
        return JSONResponse({"ok": True}, self.status)


@pytest_asyncio.fixture(loop_scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    target = Receiver()
    app = Starlette(routes=[Route("/hook/{token}", target.endpoint, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    target.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook/T0KEN-in-the-path"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield target
    finally:
        if target.hold is not None:
            target.hold.set()
        server.should_exit = True
        await task
        sock.close()


def alert(kind: str = "order_price_outlier", severity: str = "CRITICAL") -> Alert:
    return Alert(id="8f7d7a52-5b8e-4c53-9d6e-0d6c3f1b2a10", kind=kind, subject="order:c1", severity=severity,
                 message="execution e1 at 103.01 is 300 bps from the reference 100", created_at=datetime.now(UTC))


async def test_webhook_posts_the_alert_signed_with_hmac(receiver: Receiver) -> None:
    dispatcher = AlertDispatcher([WebhookSink(receiver.url, SECRET)])
    assert await dispatcher.deliver(alert()) == {"webhook": True}
    (payload,) = receiver.received
    assert payload["event"] == "alert" and payload["alert"]["kind"] == "order_price_outlier"
    assert payload["alert"]["status"] == "open" and payload["alert"]["subject"] == "order:c1"
    (headers,) = receiver.headers
    assert headers["x-brokerflow-signature"].startswith("sha256=")
    assert headers["content-type"] == "application/json" and headers["x-brokerflow-delivery"] == alert().id


async def test_a_wrong_secret_is_refused_once_not_retried(receiver: Receiver) -> None:
    dispatcher = AlertDispatcher([WebhookSink(receiver.url, "not-the-secret", attempts=3, backoff_seconds=0.01)])
    assert await dispatcher.deliver(alert()) == {"webhook": False}
    assert len(receiver.headers) == 1 and receiver.received == []  # a 4xx is final
    assert dispatcher.failed == {"webhook": 1}


async def test_chat_sink_posts_slack_style_text(receiver: Receiver) -> None:
    dispatcher = AlertDispatcher([ChatSink(receiver.url)])
    assert await dispatcher.deliver(alert(severity="WARNING")) == {"chat": True}
    (payload,) = receiver.received
    assert set(payload) == {"text"}
    assert "WARNING order_price_outlier" in payload["text"] and "order:c1" in payload["text"]
    assert "x-brokerflow-signature" not in receiver.headers[0]  # no secret configured: unsigned


async def test_a_failing_receiver_is_retried_and_never_blocks_the_caller(
        receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.status = 500
    receiver.hold = asyncio.Event()
    dispatcher = AlertDispatcher([LogSink(), WebhookSink(receiver.url, SECRET, attempts=3, backoff_seconds=0.01)])
    store = InMemoryAlertRepository()
    finding = Finding("PRICE_OUTLIER", Severity.CRITICAL, "c1", "execution e1 is 300 bps off")
    alerting.configure(dispatcher)
    try:
        with caplog.at_level(logging.WARNING, logger="brokerflow.alerts"):
            # The alert is stored and the caller goes on while the receiver still holds the first attempt.
            raised = await store_alerts(store, [finding], {})
            await receiver.arrived.wait()
            assert [a.kind for a in raised] == ["PRICE_OUTLIER"] and receiver.received == []
            assert [a.kind for a in await store.list_open()] == ["order_price_outlier"]
            receiver.hold.set()
            await dispatcher.drain()
    finally:
        alerting.configure(None)
    assert len(receiver.headers) == 3 and len(receiver.received) == 3  # every attempt answered 500
    assert dispatcher.failed == {"webhook": 1} and dispatcher.delivered == {"log": 1}
    failure = [r.getMessage() for r in caplog.records if "not delivered" in r.getMessage()]
    assert len(failure) == 1 and "HTTP 500 after 3 attempt(s)" in failure[0]
    assert "T0KEN" not in caplog.text  # URLs are logged by host only: chat and webhook URLs carry tokens


async def test_an_unreachable_receiver_times_out_within_the_deadline() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        dispatcher = AlertDispatcher([WebhookSink(url, attempts=1, timeout_seconds=0.2)], deadline_seconds=5)
        assert await dispatcher.deliver(alert()) == {"webhook": False}
    finally:
        sock.close()


def test_sinks_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERFLOW_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv("BROKERFLOW_ALERT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("BROKERFLOW_ALERT_CHAT_URL", "https://chat.example/services/T0KEN")
    get_settings.cache_clear()
    try:
        dispatcher = dispatcher_from_settings()
        assert [s.name for s in dispatcher.sinks] == ["log", "webhook", "chat"]
        assert SECRET not in repr(get_settings()) and "T0KEN" not in repr(get_settings())
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://example/hook")
