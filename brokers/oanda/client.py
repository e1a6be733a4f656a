"""The HTTP edge: Bearer token, JSON bodies, RFC 3339 times, statuses -> typed errors.

An error answer keeps OANDA's body (`OandaHttpError.body`): a 400 or 404 to an order request carries
the reject transaction, which the gateway reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from brokers.tls import tls_context

from .config import OandaConfig
from .errors import (
    OandaAmbiguousOutcomeError,
    OandaAuthenticationError,
    OandaError,
    OandaProtocolError,
    OandaRateLimitedError,
    OandaUnavailableError,
    error_for,
)

__all__ = ["IDEMPOTENT_METHODS", "OandaAuth", "OandaClient", "error_of"]

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL)
DEFAULT_RETRY_AFTER = 1.0


class OandaAuth(httpx.Auth):
    """`Authorization: Bearer <token>`; repr and messages never show the token."""

    def __init__(self, token: str | None) -> None:
        if not token:
            raise OandaAuthenticationError("OANDA needs a personal access token")
        self._token = token

    def redact(self, text: str) -> str:
        """Replace the token wherever it appears in `text`."""
        return text.replace(self._token, "***")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "OandaAuth(bearer)"


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"errorMessage": response.text[:200].strip() or response.reason_phrase}
    return body if isinstance(body, dict) else {"errorMessage": str(body)[:200]}


def _reject_reason(body: Mapping[str, Any]) -> str | None:
    for key in ("orderRejectTransaction", "orderCancelRejectTransaction"):
        found = body.get(key)
        if isinstance(found, dict) and isinstance(found.get("rejectReason"), str):
            return str(found["rejectReason"])
    code = body.get("errorCode")
    return str(code) if code is not None else None


def error_of(method: str, path: str, response: httpx.Response, auth: OandaAuth | None = None) -> OandaError:
    """The typed error of an error answer, OANDA's body attached as `.body`."""
    body = _body(response)
    code = _reject_reason(body)
    message = str(body.get("errorMessage") or "")
    if auth is not None:
        message = auth.redact(message)
    text = f"{method} {path}: HTTP {response.status_code} {code or ''} {message}".replace("  ", " ").strip()
    cls = error_for(response.status_code, code)
    if cls is OandaRateLimitedError:
        retry = response.headers.get("Retry-After", "")
        error: OandaError = OandaRateLimitedError(text, retry_after=float(retry) if retry.isdigit() else
                                                  DEFAULT_RETRY_AFTER, code=code)
    else:
        error = cls(text, status_code=response.status_code, code=code)
    error.body = body  # type: ignore[attr-defined]
    return error


def _no_answer(method: str, path: str, exc: Exception) -> OandaError:
    what = f"{method} {path}: sent, no answer ({type(exc).__name__})"
    if method in IDEMPOTENT_METHODS:
        return OandaUnavailableError(what)
    # POST (create) and PUT (cancel, replace) may have acted: resolve by reading, never by resending.
    return OandaAmbiguousOutcomeError(what)


class OandaClient:
    """An httpx.AsyncClient bound to the REST host, one for the streaming host, and one access token."""

    def __init__(self, config: OandaConfig, auth: OandaAuth, *, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.config = config
        self.auth = auth
        self._sleep = sleep
        headers = {"User-Agent": config.user_agent, "Accept-Datetime-Format": "RFC3339",
                   "Content-Type": "application/json"}
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        self._http = httpx.AsyncClient(base_url=config.api_url, auth=auth, transport=transport, timeout=timeout,
                                       verify=tls_context(), follow_redirects=False, headers=headers)
        stream_timeout = httpx.Timeout(config.stream_idle_timeout, connect=config.connect_timeout)
        self._stream = httpx.AsyncClient(base_url=config.streaming_url, auth=auth, transport=transport,
                                         verify=tls_context(), timeout=stream_timeout, follow_redirects=False,
                                         headers=headers)

    async def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                   body: Mapping[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON or a typed OandaError (rate limits waited out once)."""
        method = method.upper()
        attempts = self.config.rate_limit_retries + 1
        for attempt in range(attempts):
            response = await self._exchange(method, path, params, body)
            if response.status_code != 429:
                return self._result(method, path, response)
            error = error_of(method, path, response, self.auth)
            wait = getattr(error, "retry_after", DEFAULT_RETRY_AFTER)
            if attempt + 1 >= attempts or wait > self.config.max_rate_limit_wait:
                raise error
            log.info("oanda %s %s rate limited; waiting %.1fs", method, path, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, method: str, path: str, params: Mapping[str, Any] | None,
                        body: Mapping[str, Any] | None) -> httpx.Response:
        if self._http.is_closed:
            raise OandaUnavailableError(f"{method} {path}: not sent (client closed)")
        content = None if body is None else json.dumps(body).encode()
        try:
            return await self._http.request(method, path, params=params, content=content)
        except _NOT_SENT as exc:
            raise OandaUnavailableError(f"{method} {path}: not sent ({type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise _no_answer(method, path, exc) from None
        except RuntimeError as exc:  # the client was closed while the request was in flight
            if not self._http.is_closed:
                raise
            raise _no_answer(method, path, exc) from None

    def _result(self, method: str, path: str, response: httpx.Response) -> Any:
        log.debug("oanda %s %s -> %s", method, path, response.status_code)
        if not response.is_success:
            if response.status_code == 504 and method not in IDEMPOTENT_METHODS:
                raise OandaAmbiguousOutcomeError(f"{method} {path}: HTTP 504 gateway timeout", status_code=504)
            raise error_of(method, path, response, self.auth)
        try:
            return response.json() if response.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            what = f"{method} {path}: HTTP {response.status_code} with an unreadable body (not JSON)"
            if method in IDEMPOTENT_METHODS:
                raise OandaProtocolError(what, status_code=response.status_code) from None
            raise OandaAmbiguousOutcomeError(what, status_code=response.status_code) from None

    @asynccontextmanager
    async def stream_lines(self, path: str) -> AsyncIterator[AsyncIterator[str]]:
        """Open a streaming GET on the streaming host; yields its lines (a read timeout ends it)."""
        try:
            async with self._stream.stream("GET", path) as response:
                if not response.is_success:
                    await response.aread()
                    raise error_of("GET", path, response, self.auth)
                yield response.aiter_lines()
        except _NOT_SENT as exc:
            raise OandaUnavailableError(f"GET {path}: not connected ({type(exc).__name__})") from None

    def use_auth(self, auth: OandaAuth) -> None:
        """Send the next requests with `auth` (a new token)."""
        self.auth = auth
        self._http.auth = auth
        self._stream.auth = auth

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._stream.aclose()
