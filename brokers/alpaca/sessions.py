"""Authenticated sessions of one Alpaca connection: one key (or token) is one account at Alpaca."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from domain.broker_integration.value_objects import ConnectionCredentials

from .client import AlpacaAuth, AlpacaClient
from .config import AlpacaConfig
from .errors import AlpacaAuthenticationError, AlpacaError, AlpacaProtocolError
from .schemas import AlpacaAccount

__all__ = ["AlpacaSession", "CredentialsSource", "SessionPool"]

# An additional key whose login failed is tried again after this long, doubling up to the maximum.
MISSING_KEY_RETRY_SECONDS = 2.0
MAX_MISSING_KEY_RETRY_SECONDS = 60.0

CredentialsSource = Callable[[str], Awaitable[ConnectionCredentials | None]]

log = logging.getLogger("brokerflow.alpaca")


@dataclass
class AlpacaSession:
    """A verified key: its account and its REST clients (trading and market data)."""

    auth: AlpacaAuth
    trading: AlpacaClient
    data: AlpacaClient
    account_id: str = ""
    account_number: str = ""
    credentials: ConnectionCredentials | None = field(default=None, repr=False)

    def refresh(self, auth: AlpacaAuth, credentials: ConnectionCredentials) -> None:
        """Use new keys (or a refreshed token) from the next request and the next stream handshake on."""
        self.auth, self.credentials = auth, credentials
        self.trading.use_auth(auth)
        self.data.use_auth(auth)

    async def aclose(self) -> None:
        """Close both clients."""
        await self.trading.aclose()
        await self.data.aclose()


def _mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:]


class SessionPool:
    """Sessions by account number; the first one is the default for calls that name no account.

    An account's session is never replaced while the pool is open: a new login for an account that has
    one (a token refresh, a re-authentication) verifies the new credentials on a client of its own, then
    moves them into the existing session. Whoever holds the session across awaits (a running
    trade_updates feed, a lookup in flight) keeps working, with the new credentials from its next
    request or stream handshake on. Clients are closed only by `aclose()`.
    """

    def __init__(self, connection_id: str, config: AlpacaConfig, *, credentials: CredentialsSource | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connection_id = connection_id
        self.config = config
        self._source = credentials
        self._transport = transport
        self._sessions: dict[str, AlpacaSession] = {}
        self._lock = asyncio.Lock()
        self._has_more_keys = False
        self._loaded_at = float("-inf")
        # Additional keys whose login failed (a 5xx, a 429 burst): logged in again later, not given up on.
        self._failed_keys: list[ConnectionCredentials] = []
        self._failed_retry_at = float("inf")
        self._failed_backoff = MISSING_KEY_RETRY_SECONDS

    def _open(self, auth: AlpacaAuth) -> AlpacaSession:
        return AlpacaSession(
            auth=auth,
            trading=AlpacaClient(self.config.trading_url, auth, self.config, transport=self._transport),
            data=AlpacaClient(self.config.market_data_url, auth, self.config, transport=self._transport),
        )

    async def login(self, credentials: ConnectionCredentials) -> AlpacaSession:
        """Verify the credentials with GET /v2/account and keep the session under its account number."""
        session = self._open(AlpacaAuth.from_credentials(credentials))
        try:
            payload = await session.trading.send("GET", "/v2/account")
            account = AlpacaAccount.model_validate(payload)
        except BaseException as exc:  # cancelled too: the verification client is ours to close
            await session.aclose()
            if isinstance(exc, ValueError):
                raise AlpacaProtocolError("GET /v2/account: unexpected account shape") from None
            raise
        current = self._sessions.get(account.account_number)
        if current is None:
            session.account_id, session.account_number = account.id, account.account_number
            session.credentials = credentials
            self._sessions[account.account_number] = session
            return session
        current.refresh(session.auth, credentials)
        await session.aclose()  # only the verification used it
        return current

    async def all(self) -> list[AlpacaSession]:
        """Every session, logging in from the credentials source when none exists yet, and logging in again
        (with a backoff) an additional key whose login failed: without it, that key's account would stay
        out of this pool for the life of the process (its orders not found, its fills not listed)."""
        if not self._sessions:
            async with self._lock:
                if not self._sessions:
                    await self._login_from_source()
        elif self._failed_keys and time.monotonic() >= self._failed_retry_at:
            async with self._lock:
                if self._failed_keys and time.monotonic() >= self._failed_retry_at:
                    await self._login_failed_keys()
        return list(self._sessions.values())

    async def _login_failed_keys(self) -> None:
        keys, self._failed_keys = self._failed_keys, []
        failed = [extra for extra in keys if await self._try_login(extra) is None]
        self._failed_backoff = min(self._failed_backoff * 2, MAX_MISSING_KEY_RETRY_SECONDS)
        self._remember_failed(failed)

    def _remember_failed(self, failed: list[ConnectionCredentials]) -> None:
        self._failed_keys = failed
        if not failed:
            self._failed_backoff = MISSING_KEY_RETRY_SECONDS
        self._failed_retry_at = time.monotonic() + self._failed_backoff if failed else float("inf")

    async def _try_login(self, extra: ConnectionCredentials) -> AlpacaSession | None:
        try:
            return await self.login(extra)
        except AlpacaError as exc:
            log.warning("connection %s: additional key %s…: %s", self.connection_id,
                        (extra.api_key or "")[:4], exc.__class__.__name__)
            return None

    async def _login_from_source(self) -> None:
        credentials = None if self._source is None else await self._source(self.connection_id)
        if credentials is None:
            raise AlpacaAuthenticationError(f"connection {self.connection_id}: not authenticated")
        await self.login(credentials)
        self._has_more_keys = bool(credentials.additional_keys)
        await self.login_more(credentials)
        self._loaded_at = time.monotonic()

    async def login_more(self, credentials: ConnectionCredentials) -> list[AlpacaSession]:
        """Log in each additional key pair (one account each); a failing one is logged and skipped, so one
        revoked key does not take the connection's other accounts down, and tried again later by `all()`."""
        sessions, failed = [], []
        for extra in credentials.for_account_keys():
            session = await self._try_login(extra)
            if session is None:
                failed.append(extra)
            else:
                sessions.append(session)
        self._failed_backoff = MISSING_KEY_RETRY_SECONDS
        self._remember_failed(failed)
        return sessions

    async def reload(self, min_interval: float = 30.0) -> None:
        """Log in again from the stored credentials (a key added since is picked up), at most every
        `min_interval` seconds."""
        if self._source is None or time.monotonic() - self._loaded_at < min_interval:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at >= min_interval:
                await self._login_from_source()

    async def get(self, account: str | None = None) -> AlpacaSession:
        """The session of an account (by number or id), or the default one."""
        sessions = await self.all()
        if account is None:
            return sessions[0]
        found = await self.find(account)
        if found is not None:
            return found
        await self.reload()  # an account added to the connection since the pool logged in
        found = await self.find(account)
        if found is not None:
            return found
        sessions = await self.all()
        if len(sessions) == 1 and not self._has_more_keys:
            # One key is one account at Alpaca: an account id of brokerflow's own naming still means it.
            return sessions[0]
        raise AlpacaAuthenticationError(f"connection {self.connection_id}: no session for account {_mask(account)}")

    async def find(self, account: str) -> AlpacaSession | None:
        """The session of an account (by number or id), None when the pool has none."""
        for session in await self.all():
            if account in (session.account_number, session.account_id):
                return session
        return None

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        self._remember_failed([])
        for session in sessions:
            await session.aclose()
