"""Alpaca error bodies: `{"code": <8 digits>, "message": ...}` plus context keys at the top level.

AlpacaError
  raised by parsing and routes; `response()` renders it with the right HTTP status.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from starlette.responses import Response

from simulator.alpaca.wire import dec
from simulator.core.model import Rejection, RejectKind

__all__ = ["AlpacaError", "JSONResponse", "from_rejection", "json_response"]

CONTENT_TYPE = "application/json; charset=UTF-8"

_KIND_MAP: dict[RejectKind, tuple[int, int]] = {
    RejectKind.INVALID: (422, 40010001),
    RejectKind.UNKNOWN_ASSET: (422, 40010001),
    RejectKind.NOT_FOUND: (404, 40410000),
    RejectKind.DUPLICATE_CLIENT_ID: (422, 40010001),
    RejectKind.INSUFFICIENT_BUYING_POWER: (403, 40310000),
    RejectKind.INSUFFICIENT_QTY: (403, 40310000),
    RejectKind.SHORT_NOT_ALLOWED: (403, 40310000),
    RejectKind.PATTERN_DAY_TRADING: (403, 40310100),
    RejectKind.NOT_CANCELABLE: (422, 42210000),
    RejectKind.NOT_REPLACEABLE: (422, 42210000),
    RejectKind.UNCHANGED: (403, 40310000),
    RejectKind.PRICE: (422, 42210000),
}


class JSONResponse(Response):
    """JSON with Alpaca's content type."""

    media_type = CONTENT_TYPE

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode()


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=headers)


class AlpacaError(Exception):
    """An error answer: HTTP status, Alpaca code, message and optional context fields."""

    def __init__(self, status: int, code: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}

    def response(self) -> JSONResponse:
        return json_response(self.body(), self.status)


def from_rejection(rejection: Rejection) -> AlpacaError:
    status, code = _KIND_MAP[rejection.kind]
    extra = {k: dec(v) if isinstance(v, Decimal) else v for k, v in rejection.extra.items()}
    return AlpacaError(status, code, rejection.message, **extra)


UNAUTHORIZED = AlpacaError(401, 40110000, "request is not authorized")
RATE_LIMITED = AlpacaError(429, 42910000, "rate limit exceeded")
ORDER_NOT_FOUND = AlpacaError(404, 40410000, "order not found")
