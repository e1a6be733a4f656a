"""The authenticated session of one Tradier connection: one access token, the accounts of its user profile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

from domain.broker_integration.value_objects import ConnectionCredentials

from .client import TradierAuth, TradierClient
from .config import TradierConfig, account_pin
from .errors import TradierAuthenticationError, TradierProtocolError
from .schemas import TradierProfileAccount, items, validated

__all__ = ["CredentialsSource", "TradierSession"]

CredentialsSource = Callable[[str], Awaitable[ConnectionCredentials | None]]


async def profile_accounts(client: TradierClient, pinned: str | None) -> list[str]:
    """The account numbers of GET /v1/user/profile, or the pinned one when the token reaches it."""
    payload = await client.send("GET", "/v1/user/profile")
    profile = payload.get("profile") if isinstance(payload, dict) else None
    listed = [validated(TradierProfileAccount, a, "GET /v1/user/profile").account_number
              for a in items({"p": profile}, "p", "account")]
    if pinned:
        if pinned not in listed:
            raise TradierAuthenticationError("the access token does not reach the configured account")
        return [pinned]
    if not listed:
        raise TradierProtocolError("GET /v1/user/profile: no accounts")
    return listed


class TradierSession:
    """A verified token and its accounts; a new login (a refreshed token) moves into the same client."""

    def __init__(self, connection_id: str, config: TradierConfig, source: CredentialsSource | None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connection_id = connection_id
        self.config = config
        self._source = source
        self._transport = transport
        self._client: TradierClient | None = None
        self._accounts: list[str] = []
        self._lock = asyncio.Lock()

    async def login(self, credentials: ConnectionCredentials) -> list[str]:
        """Verify the token on a client of its own, then use it from the next request on."""
        auth = TradierAuth(credentials.secret_values()["access_token"])
        client = TradierClient(self.config, auth, transport=self._transport)
        try:
            accounts = await profile_accounts(client, account_pin(credentials))
        except BaseException:  # cancelled too: the verification client is ours to close
            await client.aclose()
            raise
        if self._client is None:
            self._client = client
        else:  # requests in flight keep the old token
            self._client.use_auth(auth)
            await client.aclose()
        self._accounts = accounts
        return list(accounts)

    async def client(self) -> TradierClient:
        """The logged-in client, logging in from the credentials source on first use."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    credentials = None if self._source is None else await self._source(self.connection_id)
                    if credentials is None:
                        raise TradierAuthenticationError(f"connection {self.connection_id}: not authenticated")
                    await self.login(credentials)
        assert self._client is not None
        return self._client

    async def accounts(self) -> list[str]:
        await self.client()
        return list(self._accounts)

    async def account(self, account: str | None) -> str:
        """The named account, or the default (first) one."""
        accounts = await self.accounts()
        if account in accounts:
            return account
        if account is None or len(accounts) == 1:
            return accounts[0]  # an account id of brokerflow's own naming still means the only account
        raise TradierAuthenticationError(f"connection {self.connection_id}: no account ...{account[-4:]}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
