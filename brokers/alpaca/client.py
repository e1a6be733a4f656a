"""The HTTP edge: auth headers, one send(), HTTP statuses and transport failures turned into typed errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from brokers.tls import tls_context
from domain.broker_integration.value_objects import ConnectionCredentials

from .config import AlpacaConfig
from .errors import (
    AlpacaAmbiguousOutcomeError,
    AlpacaAuthenticationError,
    AlpacaError,
    AlpacaProtocolError,
    AlpacaRateLimitedError,
    AlpacaUnavailableError,
    error_for_status,
)

__all__ = ["IDEMPOTENT_METHODS", "AlpacaAuth", "AlpacaClient"]

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL)
DEFAULT_RETRY_AFTER = 3.0


class AlpacaAuth(httpx.Auth):
    """Key id + secret headers, or an OAuth bearer token; repr and messages never show the secrets."""

    def __init__(self, *, key_id: str | None = None, secret_key: str | None = None,
                 oauth_token: str | None = None) -> None:
        if not oauth_token and not (key_id and secret_key):
            raise AlpacaAuthenticationError("Alpaca needs a key id and secret, or an OAuth token")
        self.key_id = key_id
        self._secret = secret_key
        self._token = oauth_token

    @classmethod
    def from_credentials(cls, credentials: ConnectionCredentials) -> AlpacaAuth:
        """Pick key auth when key and secret are given, else the OAuth access token."""
        values = credentials.secret_values()
        if values["api_key"] and values["api_secret"]:
            return cls(key_id=values["api_key"], secret_key=values["api_secret"])
        return cls(oauth_token=values["access_token"])

    @property
    def is_oauth(self) -> bool:
        """Whether a bearer token is used instead of keys."""
        return bool(self._token)

    def headers(self) -> dict[str, str]:
        """The authentication headers, as alpaca-py sends them (token first)."""
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        return {"APCA-API-KEY-ID": self.key_id or "", "APCA-API-SECRET-KEY": self._secret or ""}

    def stream_auth_message(self) -> dict[str, Any]:
        """The trade_updates authenticate message (the spelling alpaca-py sends)."""
        if self._token:
            return {"action": "authenticate", "data": {"oauth_token": self._token}}
        return {"action": "authenticate", "data": {"key_id": self.key_id, "secret_key": self._secret}}

    def redact(self, text: str) -> str:
        """Replace any secret value found in `text`."""
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self.headers())
        yield request

    def __repr__(self) -> str:
        shown = "oauth" if self._token else f"key_id=...{(self.key_id or '')[-4:]}"
        return f"AlpacaAuth({shown})"


def _retry_after(response: httpx.Response, now: float) -> float:
    """Seconds to wait from Retry-After (seconds or HTTP date) or X-RateLimit-Reset (epoch seconds)."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(float(header), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(header).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(float(reset) - now, 0.0)
        except ValueError:
            pass
    return DEFAULT_RETRY_AFTER


def _error_body(response: httpx.Response) -> tuple[str, str | None, dict[str, Any]]:
    """Alpaca's message, code and extra keys; plain text bodies are kept short."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200].strip() or response.reason_phrase, None, {}
    if not isinstance(body, dict):
        return str(body)[:200], None, {}
    code = body.get("code")
    details = {k: v for k, v in body.items() if k not in ("code", "message")}
    return str(body.get("message", "")), None if code is None else str(code), details


def _no_answer(method: str, path: str, exc: Exception) -> AlpacaError:
    what = f"{method} {path}: sent, no answer ({type(exc).__name__})"
    if method in IDEMPOTENT_METHODS:
        return AlpacaUnavailableError(what)
    return AlpacaAmbiguousOutcomeError(what)


class AlpacaClient:
    """An httpx.AsyncClient bound to one base URL and one set of credentials."""

    def __init__(self, base_url: str, auth: AlpacaAuth | None, config: AlpacaConfig | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config or AlpacaConfig()
        self.auth = auth
        self._sleep = sleep
        self._clock = clock
        self._blocked_until = 0.0
        timeout = httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout)
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), auth=auth, transport=transport,
                                       verify=tls_context(), timeout=timeout, follow_redirects=False,
                                       headers={"User-Agent": self.config.user_agent})

    async def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                   json_body: Any = None) -> Any:
        """Send one request; the decoded JSON (None for an empty body) or a typed AlpacaError."""
        method = method.upper()
        attempts = self.config.rate_limit_retries + 1
        for attempt in range(attempts):
            await self._respect_window()
            response = await self._exchange(method, path, params, json_body)
            self._note_window(response)
            if response.status_code != 429:
                return self._result(method, path, response)
            wait = _retry_after(response, self._clock())
            if attempt + 1 >= attempts or wait > self.config.max_rate_limit_wait:
                raise self._error(method, path, response, retry_after=wait)
            log.info("alpaca %s %s rate limited; waiting %.1fs", method, path, wait)
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, method: str, path: str, params: Mapping[str, Any] | None,
                        json_body: Any) -> httpx.Response:
        if self._http.is_closed:
            raise AlpacaUnavailableError(f"{method} {path}: not sent (client closed)")
        try:
            return await self._http.request(method, path, params=params, json=json_body)
        except _NOT_SENT as exc:
            raise AlpacaUnavailableError(f"{method} {path}: not sent ({type(exc).__name__})") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:  # transport failures, unreadable bodies
            raise _no_answer(method, path, exc) from None
        except RuntimeError as exc:  # the client was closed while the request was in flight
            if not self._http.is_closed:
                raise
            raise _no_answer(method, path, exc) from None

    async def _respect_window(self) -> None:
        # Alpaca counts 200 requests a minute per key; when the last answer said none are left, wait.
        wait = self._blocked_until - self._clock()
        if wait > 0:
            await self._sleep(min(wait, self.config.max_rate_limit_wait))
            self._blocked_until = 0.0

    def _note_window(self, response: httpx.Response) -> None:
        remaining, reset = response.headers.get("X-RateLimit-Remaining"), response.headers.get("X-RateLimit-Reset")
        if remaining == "0" and reset:
            try:
                self._blocked_until = float(reset)
            except ValueError:
                self._blocked_until = 0.0

    def _result(self, method: str, path: str, response: httpx.Response) -> Any:
        log.debug("alpaca %s %s -> %s", method, path, response.status_code)
        if response.is_success:
            return self._decode(method, path, response)
        if response.status_code == 504 and method not in IDEMPOTENT_METHODS:
            # A gateway timeout means the upstream may have acted: never report it as not done.
            raise AlpacaAmbiguousOutcomeError(f"{method} {path}: HTTP 504 gateway timeout", status_code=504)
        raise self._error(method, path, response)

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            what = f"{method} {path}: HTTP {response.status_code} with an unreadable body"
            if method in IDEMPOTENT_METHODS:
                raise AlpacaProtocolError(what, status_code=response.status_code) from None
            raise AlpacaAmbiguousOutcomeError(what, status_code=response.status_code) from None

    def _error(self, method: str, path: str, response: httpx.Response, **extra: Any) -> AlpacaError:
        message, code, details = _error_body(response)
        if self.auth is not None:
            message = self.auth.redact(message)
        status = response.status_code
        cls = error_for_status(status, message, method)
        text = f"{method} {path}: HTTP {status} {message}".strip()
        if cls is AlpacaRateLimitedError:
            return cls(text, status_code=status, code=code, details=details, **extra)
        return cls(text, status_code=status, code=code, details=details)

    def use_auth(self, auth: AlpacaAuth) -> None:
        """Send the next requests with `auth` (requests in flight keep theirs)."""
        self.auth = auth
        self._http.auth = auth

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
