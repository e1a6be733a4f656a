"""The HTTP edge: bearer token, form-encoded bodies, `Accept: application/json`, statuses -> typed errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

import httpx

from brokers.tls import tls_context

from .config import TradierConfig
from .errors import (
    TradierAmbiguousOutcomeError,
    TradierAuthenticationError,
    TradierError,
    TradierProtocolError,
    TradierRateLimitedError,
    TradierUnavailableError,
    error_for_status,
)

__all__ = ["IDEMPOTENT_METHODS", "TradierAuth", "TradierClient", "error_messages"]

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL)
DEFAULT_RETRY_AFTER = 3.0


class TradierAuth(httpx.Auth):
    """`Authorization: Bearer <token>`; repr and messages never show the token."""

    def __init__(self, token: str | None) -> None:
        if not token:
            raise TradierAuthenticationError("Tradier needs an OAuth access token")
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

    def redact(self, text: str) -> str:
        """Replace the token wherever it appears in `text`."""
        return text.replace(self._token, "***")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers())
        yield request

    def __repr__(self) -> str:
        return "TradierAuth(bearer)"


def error_messages(response: httpx.Response) -> list[str]:
    """Tradier's messages: `{"errors": {"error": "m" | ["m1", "m2"]}}`, else the plain text (kept short)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text[:200].strip()
        return [text or response.reason_phrase]
    errors = body.get("errors") if isinstance(body, dict) else None
    found = errors.get("error") if isinstance(errors, dict) else None
    if isinstance(found, list):
        return [str(m) for m in found]
    if found is not None:
        return [str(found)]
    return [str(body)[:200]]


def _no_answer(method: str, path: str, exc: Exception) -> TradierError:
    what = f"{method} {path}: sent, no answer ({type(exc).__name__})"
    if method in IDEMPOTENT_METHODS:
        return TradierUnavailableError(what)
    # POST (place) and PUT (modify) may have acted: resolve by reading, never by resending.
    return TradierAmbiguousOutcomeError(what)


class TradierClient:
    """An httpx.AsyncClient bound to one base URL and one access token."""

    def __init__(self, config: TradierConfig, auth: TradierAuth, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.auth = auth
        self._sleep = sleep
        self._clock = clock
        self._blocked_until = 0.0
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._http = httpx.AsyncClient(base_url=config.api_url, auth=auth, transport=transport, timeout=timeout,
                                       verify=tls_context(), follow_redirects=False,
                                       headers={"User-Agent": config.user_agent, "Accept": "application/json"})

    async def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                   form: Mapping[str, str] | None = None) -> Any:
        """Send one request; the decoded JSON or a typed TradierError."""
        method = method.upper()
        attempts = self.config.rate_limit_retries + 1
        for attempt in range(attempts):
            await self._respect_window()
            response = await self._exchange(method, path, params, form)
            self._note_window(response)
            if response.status_code != 429:
                return self._result(method, path, response)
            wait = self._retry_after()
            if attempt + 1 >= attempts or wait > self.config.max_rate_limit_wait:
                raise self._error(method, path, response, retry_after=wait)
            log.info("tradier %s %s rate limited; waiting %.1fs", method, path, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, method: str, path: str, params: Mapping[str, Any] | None,
                        form: Mapping[str, str] | None) -> httpx.Response:
        if self._http.is_closed:
            raise TradierUnavailableError(f"{method} {path}: not sent (client closed)")
        # Tradier's session call wants a Content-Length even when the body is empty.
        content = None if form is not None or method == "GET" else b""
        try:
            return await self._http.request(method, path, params=params, data=form, content=content)
        except _NOT_SENT as exc:
            raise TradierUnavailableError(f"{method} {path}: not sent ({type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise _no_answer(method, path, exc) from None
        except RuntimeError as exc:  # the client was closed while the request was in flight
            if not self._http.is_closed:
                raise
            raise _no_answer(method, path, exc) from None

    async def _respect_window(self) -> None:
        wait = self._blocked_until - self._clock()
        if wait > 0:
            await self._sleep(min(wait, self.config.max_rate_limit_wait))
            self._blocked_until = 0.0

    def _note_window(self, response: httpx.Response) -> None:
        available, expiry = response.headers.get("X-Ratelimit-Available"), response.headers.get("X-Ratelimit-Expiry")
        if (available == "0" or response.status_code == 429) and expiry:
            try:
                self._blocked_until = float(expiry) / 1000  # epoch milliseconds
            except ValueError:
                self._blocked_until = 0.0

    def _retry_after(self) -> float:
        wait = self._blocked_until - self._clock()
        return wait if wait > 0 else DEFAULT_RETRY_AFTER

    def _result(self, method: str, path: str, response: httpx.Response) -> Any:
        log.debug("tradier %s %s -> %s", method, path, response.status_code)
        if response.is_success:
            return self._decode(method, path, response)
        if response.status_code == 504 and method not in IDEMPOTENT_METHODS:
            raise TradierAmbiguousOutcomeError(f"{method} {path}: HTTP 504 gateway timeout", status_code=504)
        raise self._error(method, path, response)

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            what = f"{method} {path}: HTTP {response.status_code} with an unreadable body (not JSON)"
            if method in IDEMPOTENT_METHODS:
                raise TradierProtocolError(what, status_code=response.status_code) from None
            raise TradierAmbiguousOutcomeError(what, status_code=response.status_code) from None

    def _error(self, method: str, path: str, response: httpx.Response, **extra: Any) -> TradierError:
        messages = [self.auth.redact(m) for m in error_messages(response)]
        status = response.status_code
        text = "; ".join(messages)
        cls = error_for_status(status, text, method)
        message = f"{method} {path}: HTTP {status} {text}".strip()
        if cls is TradierRateLimitedError:
            return TradierRateLimitedError(message, status_code=status, messages=messages, **extra)
        return cls(message, status_code=status, messages=messages)

    def use_auth(self, auth: TradierAuth) -> None:
        """Send the next requests with `auth` (a refreshed token)."""
        self.auth = auth
        self._http.auth = auth

    async def aclose(self) -> None:
        await self._http.aclose()
