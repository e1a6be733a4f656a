"""Refresh a Tradier OAuth access token: `POST /v1/oauth/refreshtoken`, HTTP Basic client id and secret.

The path and `grant_type=refresh_token&refresh_token=…` form are [ASSUME] from Tradier's partner docs (the access
token call next to it, `/v1/oauth/accesstoken`, is documented). The answer has the shape of the access token call's:
`{"access_token", "refresh_token", "expires_in", "issued_at", "scope", "status": "approved"}`.

For Tradier the connection's credentials hold the partner application's OAuth client id and secret in `api_key`
and `api_secret`, the user's refresh token in `refresh_token`. Refresh tokens rotate: the answer's replaces the
stored one. A refresh that was sent but got no answer is retried once with the same refresh token; that is safe
only while the broker answers a repeated refresh with the same pair (our simulator does, for 60 s) [ASSUME].
Nothing here logs or puts into messages a token or the client secret.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from brokers.tls import tls_context
from domain.broker_integration.entities import BrokerConnection
from domain.broker_integration.value_objects import ConnectionCredentials

from .client import DEFAULT_RETRY_AFTER, error_messages
from .config import TradierConfig, oauth_client
from .errors import (
    TradierError,
    TradierProtocolError,
    TradierRateLimitedError,
    TradierTokenRefreshError,
    TradierUnavailableError,
)
from .schemas import TradierAccessToken, validated

__all__ = ["REFRESH_PATH", "TradierTokenRefresher"]

log = logging.getLogger(__name__)

REFRESH_PATH = "/v1/oauth/refreshtoken"


class TradierTokenRefresher:
    """The supervisor's TokenRefresher for Tradier (activities.auth_plugins): new access and refresh tokens."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None, attempts: int = 2,
                 retry_delay: float = 0.5, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._transport = transport
        self._attempts = max(attempts, 1)
        self._retry_delay = retry_delay
        self._sleep = sleep
        self._clock = clock

    async def refresh(self, connection: BrokerConnection, credentials: ConnectionCredentials
                      ) -> ConnectionCredentials:
        """Exchange the stored refresh token; the same credentials with the new tokens and expiry.

        Raises TradierTokenRefreshError (not retryable) when the client or the refresh token is refused or
        missing, TradierUnavailableError / TradierRateLimitedError (retryable) when Tradier did not answer.
        """
        client = oauth_client(credentials)
        if client is None:
            raise TradierTokenRefreshError(f"connection {connection.connection_id}: no OAuth client id and secret "
                                           "stored (api_key / api_secret)")
        if credentials.refresh_token is None:
            raise TradierTokenRefreshError(f"connection {connection.connection_id}: no refresh token stored")
        config = TradierConfig(environment=connection.environment, base_url=connection.base_url)
        sent_at = self._clock()
        answer = await self._exchange(config, client, credentials.refresh_token.get_secret_value())
        expires = sent_at + timedelta(seconds=answer.expires_in) if answer.expires_in else None
        log.info("tradier token refreshed for connection %s (expires %s)", connection.connection_id, expires)
        return credentials.model_copy(update={
            "access_token": answer.access_token,
            "refresh_token": answer.refresh_token or credentials.refresh_token,
            "token_expires_at": expires,
        })

    async def _exchange(self, config: TradierConfig, client: tuple[str, str], refresh: str) -> TradierAccessToken:
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._once(config, client, refresh)
            except TradierUnavailableError:
                if attempt >= self._attempts:
                    raise
                log.info("tradier token refresh: no usable answer; retrying the same refresh")
                await self._sleep(self._retry_delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, config: TradierConfig, client: tuple[str, str], refresh: str) -> TradierAccessToken:
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        headers = {"Accept": "application/json", "User-Agent": config.user_agent}
        async with httpx.AsyncClient(base_url=config.api_url, transport=self._transport, timeout=timeout,
                                     verify=tls_context(), headers=headers, follow_redirects=False) as http:
            try:
                response = await http.post(REFRESH_PATH, auth=httpx.BasicAuth(*client),
                                           data={"grant_type": "refresh_token", "refresh_token": refresh})
            except httpx.HTTPError as exc:
                raise TradierUnavailableError(f"POST {REFRESH_PATH}: no answer ({type(exc).__name__})") from None
        if response.is_success:
            return _token(response)
        raise _refused(response, secrets=(client[1], refresh))


def _token(response: httpx.Response) -> TradierAccessToken:
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TradierProtocolError(f"POST {REFRESH_PATH}: HTTP {response.status_code} with an unreadable body",
                                   status_code=response.status_code) from None
    return validated(TradierAccessToken, payload, f"POST {REFRESH_PATH}")


def _refused(response: httpx.Response, secrets: tuple[str, ...]) -> TradierError:
    messages = error_messages(response)
    for secret in secrets:
        messages = [m.replace(secret, "***") for m in messages]
    status = response.status_code
    text = f"POST {REFRESH_PATH}: HTTP {status} {'; '.join(messages)}".strip()
    if status == 429:
        return TradierRateLimitedError(text, retry_after=DEFAULT_RETRY_AFTER, messages=messages)
    if status >= 500:
        return TradierUnavailableError(text, status_code=status, messages=messages)
    # 400 (refresh token unknown or used), 401 (client id/secret wrong) and anything else: authorize again.
    return TradierTokenRefreshError(text, status_code=status, messages=messages)
