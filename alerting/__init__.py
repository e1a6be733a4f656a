"""Where alerts go once stored: the log, a signed JSON webhook, a chat webhook. Delivery never blocks orders."""

from .dispatch import AlertDispatcher, configure, dispatcher_from_settings, get_dispatcher, publish
from .sinks import AlertSink, ChatSink, LogSink, SinkError, WebhookSink, signature

__all__ = [
    "AlertDispatcher",
    "AlertSink",
    "ChatSink",
    "LogSink",
    "SinkError",
    "WebhookSink",
    "configure",
    "dispatcher_from_settings",
    "get_dispatcher",
    "publish",
    "signature",
]
