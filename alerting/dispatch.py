"""Fan an alert out to the configured sinks in the background: a slow or failing sink never blocks the caller.

`publish` is called once an alert is stored (newly raised only). Each sink gets its own task, bounded by
`deadline_seconds`; a failure is logged and dropped. `drain` waits for deliveries in flight (tests,
worker shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from persistence.repositories.alerts import Alert

from .sinks import AlertSink, ChatSink, LogSink, WebhookSink

__all__ = ["AlertDispatcher", "configure", "dispatcher_from_settings", "get_dispatcher", "publish"]

log = logging.getLogger("brokerflow.alerts")


class AlertDispatcher:
    """Delivers alerts to sinks; never raises into the caller."""

    def __init__(self, sinks: Sequence[AlertSink], deadline_seconds: float = 30.0) -> None:
        self.sinks = list(sinks)
        self.deadline_seconds = deadline_seconds
        self._pending: set[asyncio.Task[bool]] = set()
        self.delivered: dict[str, int] = {}
        self.failed: dict[str, int] = {}

    def publish(self, alert: Alert) -> None:
        """Start delivering `alert` to every sink and return at once (needs a running event loop)."""
        for sink in self.sinks:
            try:
                task = asyncio.get_running_loop().create_task(self._deliver(sink, alert))
            except RuntimeError:  # no loop: nothing can be sent from here
                log.error("alert %s not sent to %s: no event loop", alert.id, sink.name)
                continue
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def deliver(self, alert: Alert) -> dict[str, bool]:
        """Deliver to every sink and wait: which sinks succeeded."""
        results = await asyncio.gather(*(self._deliver(sink, alert) for sink in self.sinks))
        return {sink.name: ok for sink, ok in zip(self.sinks, results, strict=True)}

    async def drain(self) -> None:
        """Wait for the deliveries in flight."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _deliver(self, sink: AlertSink, alert: Alert) -> bool:
        try:
            await asyncio.wait_for(sink.send(alert), timeout=self.deadline_seconds)
        except Exception as exc:  # a sink must never break the caller
            self.failed[sink.name] = self.failed.get(sink.name, 0) + 1
            reason = "timed out" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("alert %s %s not delivered to %s: %s", alert.kind, alert.id, sink.name, reason)
            return False
        self.delivered[sink.name] = self.delivered.get(sink.name, 0) + 1
        return True


def dispatcher_from_settings() -> AlertDispatcher:
    """The log sink, plus the webhook and chat sinks when their URLs are set (BROKERFLOW_ALERT_*)."""
    from starter.settings import get_settings

    settings = get_settings()
    sinks: list[AlertSink] = [LogSink()]
    attempts, timeout = settings.alert_webhook_attempts, settings.alert_webhook_timeout
    if settings.alert_webhook_url:
        secret = settings.alert_webhook_secret.get_secret_value() if settings.alert_webhook_secret else None
        sinks.append(WebhookSink(settings.alert_webhook_url, secret, attempts=attempts, timeout_seconds=timeout))
    if settings.alert_chat_url:
        sinks.append(ChatSink(settings.alert_chat_url.get_secret_value(), attempts=attempts,
                              timeout_seconds=timeout))
    return AlertDispatcher(sinks)


_dispatcher: AlertDispatcher | None = None


def configure(dispatcher: AlertDispatcher | None) -> None:
    """Use `dispatcher` in this process (None: build it from the settings on next use)."""
    global _dispatcher
    _dispatcher = dispatcher


def get_dispatcher() -> AlertDispatcher:
    """This process's dispatcher, built from the settings the first time."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = dispatcher_from_settings()
    return _dispatcher


def publish(alert: Alert) -> None:
    """Send a newly stored alert to the sinks in the background; never raises."""
    try:
        get_dispatcher().publish(alert)
    except Exception:  # a bad sink configuration must not fail the activity
        log.exception("alert %s not published", alert.id)
