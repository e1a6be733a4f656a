"""Logging in: a token is verified with GET /v3/accounts, whose accounts (or the pinned one) are the session's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import httpx

from domain.broker_integration.value_objects import ConnectionCredentials

from .client import OandaAuth, OandaClient
from .config import OandaConfig
from .errors import OandaAuthenticationError, OandaProtocolError

__all__ = ["CredentialsSource", "OandaSession", "account_path"]

CredentialsSource = Callable[[str], Awaitable[ConnectionCredentials | None]]


def account_path(account: str, *rest: str) -> str:
    """`/v3/accounts/{id}/...`, each part quoted."""
    return "/".join([f"/v3/accounts/{quote(account, safe='')}", *rest])


async def listed_accounts(client: OandaClient, pinned: str | None) -> list[str]:
    """The ids of GET /v3/accounts, or the pinned one when the token reaches it."""
    payload = await client.send("GET", "/v3/accounts")
    found = payload.get("accounts") if isinstance(payload, dict) else None
    if not isinstance(found, list):
        raise OandaProtocolError("GET /v3/accounts: no accounts list")
    listed = [str(a["id"]) for a in found if isinstance(a, dict) and a.get("id")]
    if pinned:
        if pinned not in listed:
            raise OandaAuthenticationError("the access token does not reach the configured account")
        return [pinned]
    if not listed:
        raise OandaProtocolError("GET /v3/accounts: the token reaches no account")
    return listed


class OandaSession:
    """A verified token and its accounts; a new login moves into the same client."""

    def __init__(self, connection_id: str, config: OandaConfig, source: CredentialsSource | None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connection_id = connection_id
        self.config = config
        self._source = source
        self._transport = transport
        self._client: OandaClient | None = None
        self._accounts: list[str] = []
        self._lock = asyncio.Lock()

    async def login(self, credentials: ConnectionCredentials) -> list[str]:
        """Verify the token on a client of its own, then use it from the next request on."""
        auth = OandaAuth(credentials.secret_values()["access_token"])
        client = OandaClient(self.config, auth, transport=self._transport)
        try:
            accounts = await listed_accounts(client, credentials.api_key)
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

    async def client(self) -> OandaClient:
        """The logged-in client, logging in from the credentials source on first use."""
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    credentials = None if self._source is None else await self._source(self.connection_id)
                    if credentials is None:
                        raise OandaAuthenticationError(f"connection {self.connection_id}: not authenticated")
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
        raise OandaAuthenticationError(f"connection {self.connection_id}: no account ...{account[-4:]}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
