"""Logging for brokerflow processes: text or JSON lines, Temporal ids as fields, secrets redacted.

`configure_logging("json")` makes every line one JSON object with `ts`, `level`, `logger`, `message` and,
for lines emitted inside an activity or workflow, `workflow_id`, `workflow_type`, `run_id`, `activity_type`,
`attempt`, `client_order_id` (for order workflows) and `connection_id` (for connection supervisors).
Both formats pass the final text through `redact`: API keys and secrets, tokens, Authorization headers,
passwords and account numbers never reach the output, whatever a library put in its message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from temporalio import activity, workflow

__all__ = [
    "REDACTED",
    "ContextFilter",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "context_fields",
    "redact",
    "register_secret",
]

REDACTED = "[REDACTED]"
_SECRET_NAMES = (
    r"api[_-]?key(?:[_-]?id)?|api[_-]?secret(?:[_-]?key)?|secret[_-]?key|secret|client[_-]?secret|password|passwd"
    r"|(?:access|refresh|id|auth|bearer|codec)[_-]?token|token|account[_-]?(?:number|no)|apca-api-key-id"
    r"|apca-api-secret-key|apca_api_oauth_token|x-api-key|private[_-]?key"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer xyz / "authorization": "Basic xyz"
    (re.compile(r"(?i)(\"?(?:proxy-)?authorization\"?\s*[:=]\s*\"?)(?:(?:bearer|basic|token)\s+)?[^\s\",;}]+"),
     r"\1" + REDACTED),
    # name=value, name: value, "name": "value", 'name': 'value'
    (re.compile(rf"(?i)([\"']?\b(?:{_SECRET_NAMES})\b[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\])[^\s\"',&;}}\])]+"),
     r"\1" + REDACTED),
    (re.compile(r"(?i)\bbearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{8,}"), "Bearer " + REDACTED),
)
_KNOWN_SECRETS: set[str] = set()
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
_CONTEXT = ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt", "client_order_id", "connection_id")


def register_secret(value: str | None) -> None:
    """Redact this exact value wherever it appears (e.g. a key loaded at start-up); short values are ignored."""
    if value and len(value) >= 6:
        _KNOWN_SECRETS.add(value)


def redact(text: str) -> str:
    """`text` with secrets replaced by [REDACTED]."""
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _ids_from_workflow_id(workflow_id: str | None, workflow_type: str | None) -> dict[str, Any]:
    if not workflow_id:
        return {}
    if workflow_id.startswith("order-") and workflow_type in (None, "OrderWorkflow"):
        return {"client_order_id": workflow_id.removeprefix("order-")}
    if workflow_id.startswith("connection-") and workflow_type in (None, "ConnectionSupervisorWorkflow"):
        return {"connection_id": workflow_id.removeprefix("connection-")}
    return {}


def context_fields() -> dict[str, Any]:
    """The Temporal ids of the activity or workflow running now (empty outside both)."""
    if activity.in_activity():
        info = activity.info()
        fields: dict[str, Any] = {"workflow_id": info.workflow_id, "workflow_type": info.workflow_type,
                                  "run_id": info.workflow_run_id, "activity_type": info.activity_type,
                                  "attempt": info.attempt}
    elif workflow.in_workflow():
        winfo = workflow.info()
        fields = {"workflow_id": winfo.workflow_id, "workflow_type": winfo.workflow_type, "run_id": winfo.run_id}
    else:
        return {}
    fields.update(_ids_from_workflow_id(fields["workflow_id"], fields["workflow_type"]))
    return {key: value for key, value in fields.items() if value not in (None, "")}


class ContextFilter(logging.Filter):
    """Put the running activity's or workflow's ids on the record (kept when the caller set them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = context_fields()
        for source in ("temporal_activity", "temporal_workflow"):
            details = getattr(record, source, None)
            if isinstance(details, dict):
                fields = {**_from_details(details), **fields}
        for key, value in fields.items():
            if getattr(record, key, None) in (None, ""):
                setattr(record, key, value)
        return True


def _from_details(details: dict[str, Any]) -> dict[str, Any]:
    fields = {key: details[key] for key in ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt")
              if details.get(key) not in (None, "")}
    if "workflow_run_id" in details:
        fields.setdefault("run_id", details["workflow_run_id"])
    fields.update(_ids_from_workflow_id(fields.get("workflow_id"), fields.get("workflow_type")))
    return fields


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return redact(value) if isinstance(value, str) else value
    return redact(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context ids and `extra=` fields as keys; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in ("temporal_activity", "temporal_workflow", "activity_info"):
                line[key] = _plain(value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message [ids]`, redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in _CONTEXT
                       if key != "run_id" and getattr(record, key, None) not in (None, ""))
        if ids:
            first, sep, rest = text.partition("\n")
            text = f"{first} [{ids}]{sep}{rest}"
        return redact(text)


_HANDLER_MARK = "_brokerflow_handler"


def configure_logging(fmt: str = "text", level: str | int = "INFO", stream: TextIO | None = None,
                      secrets: Iterable[str | None] = ()) -> logging.Handler:
    """Install brokerflow's handler on the root logger (replacing one installed before); return it."""
    for secret in secrets:
        register_secret(secret)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
