"""The transaction stream of one account: chunked HTTP, one JSON transaction (or HEARTBEAT) per line.

OANDA replays nothing on a new connection. After every (re)connect the stream reads what it missed with
`GET …/transactions/sinceid?id=<last seen>` (the connection is opened first, so nothing falls between
the two), then goes on with the live lines, skipping what the read-back already gave.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from pydantic import ValidationError

from .client import OandaClient
from .config import OandaConfig
from .errors import OandaAuthenticationError, OandaError
from .schemas import OandaTransaction
from .sessions import account_path

__all__ = ["OandaTransactionStream", "transactions_since"]

log = logging.getLogger(__name__)


class _Resync(Exception):
    """A line we could not read: reconnect and read back from the last transaction seen."""


async def transactions_since(client: OandaClient, account: str, after: str, page: int) -> list[OandaTransaction]:
    """Every transaction after id `after`, oldest first (pages of at most `page`)."""
    found: list[OandaTransaction] = []
    path = account_path(account, "transactions", "sinceid")
    while True:
        payload = await client.send("GET", path, params={"id": after})
        items = payload.get("transactions") if isinstance(payload, dict) else None
        if not isinstance(items, list):
            raise _Resync
        batch = [_model(item) for item in items]
        found += batch
        if len(batch) < page or not batch or batch[-1].id is None:
            return found
        after = batch[-1].id


def _model(item: object) -> OandaTransaction:
    try:
        return OandaTransaction.model_validate(item)
    except ValidationError:
        log.error("oanda stream: transaction of unknown shape; resyncing")
        raise _Resync from None


class OandaTransactionStream:
    """One account's transactions; iterate `transactions()`; `last_id` is the newest one yielded."""

    def __init__(self, account: str, client: Callable[[], Awaitable[OandaClient]], config: OandaConfig, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.account = account
        self.config = config
        self._client = client
        self._sleep = sleep
        self._closed = False
        self.last_id: str | None = None
        self.reconnects = 0

    def close(self) -> None:
        """Stop after the current transaction."""
        self._closed = True

    async def transactions(self) -> AsyncIterator[OandaTransaction]:
        """Yield transactions forever, reconnecting with backoff; a refused token ends the iteration."""
        failures = 0
        while not self._closed:
            try:
                async for transaction in self._connection():
                    failures = 0
                    yield transaction
            except OandaAuthenticationError:
                raise
            except (_Resync, OandaError, httpx.HTTPError, httpx.StreamError, OSError, TimeoutError) as exc:
                log.info("oanda stream of ...%s interrupted (%s)", self.account[-4:], type(exc).__name__)
            if self._closed:
                return
            failures += 1
            await self._sleep(self._backoff(failures))

    def _backoff(self, failures: int) -> float:
        base = min(self.config.stream_backoff_initial * 2 ** (failures - 1), self.config.stream_backoff_max)
        return float(base * random.uniform(0.5, 1.0))

    async def _connection(self) -> AsyncIterator[OandaTransaction]:
        client = await self._client()
        async with client.stream_lines(account_path(self.account, "transactions", "stream")) as lines:
            if self.last_id is None:
                summary = await client.send("GET", account_path(self.account, "summary"))
                self.last_id = str((summary or {}).get("lastTransactionID") or "0")
            else:
                self.reconnects += 1
                for transaction in await transactions_since(client, self.account, self.last_id,
                                                            self.config.transactions_page):
                    if self._newer(transaction):
                        yield transaction
            async for line in lines:
                if self._closed:
                    return
                if not line.strip():
                    continue
                transaction = self._decode(line)
                if transaction.type != "HEARTBEAT" and self._newer(transaction):
                    yield transaction

    def _newer(self, transaction: OandaTransaction) -> bool:
        """Whether the transaction comes after the last one yielded (and mark it yielded)."""
        if transaction.id is None or not transaction.id.isdigit():
            return False
        if self.last_id is not None and int(transaction.id) <= int(self.last_id):
            return False
        self.last_id = transaction.id
        return True

    @staticmethod
    def _decode(line: str) -> OandaTransaction:
        try:
            item = json.loads(line)
        except ValueError:
            log.error("oanda stream: unreadable line; resyncing")
            raise _Resync from None
        return _model(item)
