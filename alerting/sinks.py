"""Alert sinks: the log, a JSON webhook signed with HMAC-SHA256, and a chat webhook ({"text": ...}).

A webhook is retried with exponential backoff on transport errors, 429 and 5xx answers, a bounded
number of times; any other 4xx is final. Webhook URLs are logged by host only: chat URLs carry tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from persistence.repositories.alerts import Alert

__all__ = ["AlertSink", "ChatSink", "LogSink", "SinkError", "WebhookSink", "alert_payload", "signature"]

log = logging.getLogger("brokerflow.alerts")

SIGNATURE_HEADER = "X-Brokerflow-Signature"


class SinkError(Exception):
    """A sink could not deliver an alert (after its retries)."""


class AlertSink(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Deliver one alert; raise SinkError when it could not be delivered."""
        ...


def signature(secret: str, body: bytes) -> str:
    """The value of X-Brokerflow-Signature: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON document a webhook receives."""
    return {"event": "alert", "alert": alert.model_dump(mode="json")}


def _where(url: str) -> str:
    return urlsplit(url).netloc or "?"


class LogSink:
    """Writes each alert to the `brokerflow.alerts` log (WARNING; CRITICAL alerts at ERROR)."""

    name = "log"

    async def send(self, alert: Alert) -> None:
        level = logging.ERROR if alert.severity.upper() == "CRITICAL" else logging.WARNING
        log.log(level, "alert %s %s %s: %s (id %s)", alert.severity.upper(), alert.kind, alert.subject,
                alert.message, alert.id)


class WebhookSink:
    """POSTs the alert as JSON; with a secret, signs the body (X-Brokerflow-Signature: sha256=<hex>)."""

    name = "webhook"

    def __init__(self, url: str, secret: str | None = None, *, attempts: int = 3, backoff_seconds: float = 0.5,
                 timeout_seconds: float = 5.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("alert webhook URL must start with http:// or https://")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.url = url
        self._secret = secret
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._transport = transport

    def body(self, alert: Alert) -> bytes:
        return json.dumps(alert_payload(alert), sort_keys=True, separators=(",", ":")).encode()

    def headers(self, alert: Alert, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "brokerflow-alerts",
                   "X-Brokerflow-Event": "alert", "X-Brokerflow-Delivery": alert.id}
        if self._secret:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        return headers

    async def send(self, alert: Alert) -> None:
        body = self.body(alert)
        headers = self.headers(alert, body)
        problem = ""
        async with httpx.AsyncClient(timeout=self.timeout_seconds, transport=self._transport) as client:
            for attempt in range(1, self.attempts + 1):
                try:
                    response = await client.post(self.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}"
                else:
                    if response.status_code < 300:
                        return
                    problem = f"HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code != 429:
                        break  # the receiver refuses this alert: asking again would not change its mind
                if attempt < self.attempts:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SinkError(f"{self.name} at {_where(self.url)}: {problem} after {attempt} attempt(s)")


class ChatSink(WebhookSink):
    """Posts a one-line summary in the chat-webhook format Slack and its clones accept: {"text": ...}."""

    name = "chat"

    def body(self, alert: Alert) -> bytes:
        markers = {"CRITICAL": ":rotating_light:", "WARNING": ":warning:"}
        marker = markers.get(alert.severity.upper(), ":information_source:")
        text = f"{marker} *{alert.severity.upper()} {alert.kind}* {alert.subject}: {alert.message} (alert {alert.id})"
        return json.dumps({"text": text}).encode()
