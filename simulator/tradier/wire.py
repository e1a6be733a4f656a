"""Tradier's JSON shapes: numbers as JSON numbers, millisecond `Z` timestamps, and the XML-conversion quirks.

Tradier converts its XML answers to JSON, so a collection of one is an object (not a one-element list)
and an empty collection is the string "null". `collection()` reproduces both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["collection", "num", "ts", "xml_document"]


def num(value: Decimal | None) -> float:
    """A decimal as Tradier sends it: a JSON number (0.0 when absent)."""
    return float(value) if value is not None else 0.0


def ts(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and `Z`, as in Tradier's order objects."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def collection(key: str, items: list[Any]) -> Any:
    """`{key: [..]}`, `{key: item}` for one item, or the string "null" for none (XML-converted JSON)."""
    if not items:
        return "null"
    return {key: items[0] if len(items) == 1 else items}


def _xml(tag: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml(tag, item) for item in value)
    if isinstance(value, dict):
        inner = "".join(_xml(k, v) for k, v in value.items())
        return f"<{tag}>{inner}</{tag}>"
    if value is None or value == "null":
        return f"<{tag}/>"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{tag}>{escape(text)}</{tag}>"


def xml_document(body: dict[str, Any]) -> str:
    """The XML Tradier answers with when the client does not ask for JSON."""
    return '<?xml version="1.0" encoding="UTF-8"?>' + "".join(_xml(k, v) for k, v in body.items())
