"""Authenticated sessions of one Alpaca connection: one key (or token) is one account at Alpaca."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from domain.broker_integration.value_objects import ConnectionCredentials

from .client import AlpacaAuth, AlpacaClient
from .config import AlpacaConfig
from .errors import AlpacaAuthenticationError, AlpacaProtocolError
from .schemas import AlpacaAccount

__all__ = ["AlpacaSession", "CredentialsSource", "SessionPool"]

CredentialsSource = Callable[[str], Awaitable[ConnectionCredentials | None]]


@dataclass
class AlpacaSession:
    """A verified key: its account and its REST clients (trading and market data)."""

    auth: AlpacaAuth
    trading: AlpacaClient
    data: AlpacaClient
    account_id: str = ""
    account_number: str = ""
    credentials: ConnectionCredentials | None = field(default=None, repr=False)

    async def aclose(self) -> None:
        """Close both clients."""
        await self.trading.aclose()
        await self.data.aclose()


def _mask(number: str) -> str:
    return "*" * max(len(number) - 4, 0) + number[-4:]


class SessionPool:
    """Sessions by account number; the first one is the default for calls that name no account."""

    def __init__(self, connection_id: str, config: AlpacaConfig, *, credentials: CredentialsSource | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connection_id = connection_id
        self.config = config
        self._source = credentials
        self._transport = transport
        self._sessions: dict[str, AlpacaSession] = {}
        self._lock = asyncio.Lock()

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
        except Exception as exc:
            await session.aclose()
            if isinstance(exc, ValueError):
                raise AlpacaProtocolError("GET /v2/account: unexpected account shape") from None
            raise
        session.account_id, session.account_number = account.id, account.account_number
        session.credentials = credentials
        previous = self._sessions.pop(account.account_number, None)
        self._sessions[account.account_number] = session
        if previous is not None:
            await previous.aclose()
        return session

    async def all(self) -> list[AlpacaSession]:
        """Every session, logging in from the credentials source when none exists yet."""
        if not self._sessions:
            async with self._lock:
                if not self._sessions:
                    await self._login_from_source()
        return list(self._sessions.values())

    async def _login_from_source(self) -> None:
        credentials = None if self._source is None else await self._source(self.connection_id)
        if credentials is None:
            raise AlpacaAuthenticationError(f"connection {self.connection_id}: not authenticated")
        await self.login(credentials)

    async def get(self, account: str | None = None) -> AlpacaSession:
        """The session of an account (by number or id), or the default one."""
        sessions = await self.all()
        if account is None:
            return sessions[0]
        for session in sessions:
            if account in (session.account_number, session.account_id):
                return session
        if len(sessions) == 1:
            # One key is one account at Alpaca: an account id of brokerflow's own naming still means it.
            return sessions[0]
        raise AlpacaAuthenticationError(f"connection {self.connection_id}: no session for account {_mask(account)}")

    async def aclose(self) -> None:
        """Close every session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.aclose()
