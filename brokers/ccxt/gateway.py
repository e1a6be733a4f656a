"""CcxtGateway: the domain's BrokerGateway port over one ccxt exchange's spot market (Binance by default).

Exactly once: the client order id travels as the exchange's client order id (Binance: newClientOrderId),
and a submission first looks it up (Binance refuses a repeated id only while the first order is open, so
the lookup is what keeps a resubmission after a lost answer to one order). Our order ids name the market
too ('1001@BTC/USDT'), because Binance finds an order only within its symbol. No replace: Binance spot's
cancelReplace is not wired yet, so amendments are refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, SessionInfo, TradeEvent, is_transient
from domain.broker_integration.value_objects import (
    BrokerCapabilities,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
)

from . import parsing
from .capabilities import BROKER_NAME, CCXT_CAPABILITIES
from .client import CcxtClient
from .config import CcxtConfig
from .errors import (
    CcxtAuthenticationError,
    CcxtDuplicateOrderError,
    CcxtError,
    CcxtOrderNotCancelableError,
    CcxtOrderNotFoundError,
    CcxtUnsupportedOrderError,
)
from .feed import TradePoller
from .fills import FillReader

__all__ = ["BROKER_NAME", "CCXT_CAPABILITIES", "CcxtGateway", "CredentialsSource"]

log = logging.getLogger(__name__)

CredentialsSource = Callable[[str], Awaitable[ConnectionCredentials | None]]
MAX_WORKING = 8192


def _account_number(exchange_id: str, balance: dict[str, Any]) -> str:
    info = balance.get("info") if isinstance(balance.get("info"), dict) else {}
    uid = (info or {}).get("uid")
    return f"{exchange_id}-{uid}" if uid not in (None, "") else exchange_id


class CcxtGateway:
    """One API key pair on one exchange: its spot account, the markets in `config.symbols` followed."""

    def __init__(self, connection_id: str, config: CcxtConfig | None = None, *,
                 credentials: CredentialsSource | None = None,
                 client_factory: Callable[[CcxtConfig, str | None, str | None], CcxtClient] = CcxtClient) -> None:
        self.connection_id = connection_id
        self.config = config or CcxtConfig()
        self._credentials = credentials
        self._client_factory = client_factory
        self._client: CcxtClient | None = None
        self._fingerprint: str | None = None  # of the key pair the client was built with (never the secret)
        self._retired: list[CcxtClient] = []
        self._login = asyncio.Lock()
        self._account: str | None = None
        self._by_client: dict[str, str] = {}
        self._symbols: dict[str, None] = dict.fromkeys(self.config.symbols)
        self.fills = FillReader(self)
        self.working: dict[str, str] = {}  # orders known to be working (broker id -> market): the feed follows them
        self._feeds: list[TradePoller] = []

    @property
    def broker(self) -> str:
        return BROKER_NAME

    def capabilities(self) -> BrokerCapabilities:
        """Crypto spot: market, limit, stop-limit; GTC, IOC, FOK; fractional; no shorting, no replace."""
        return CCXT_CAPABILITIES

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        """Load the markets and read the balances with the key pair (a signed call proves the secret).

        The same key pair again is checked on the client in use; a new one gets a new client, and the old one
        is closed with the gateway (calls in flight on it must not fail halfway).
        """
        secrets = credentials.secret_values()
        key, secret = secrets["api_key"], secrets["api_secret"]
        if not key or not secret:
            raise CcxtAuthenticationError(f"{self.config.exchange_id}: an API key and secret are required")
        fingerprint = hashlib.sha256(f"{key}\0{secret}".encode()).hexdigest()
        same = self._client is not None and fingerprint == self._fingerprint
        client = self._client if same and self._client is not None else self._client_factory(self.config, key, secret)
        try:
            await client.markets()
            balance = await client.call("fetch_balance", client.exchange.fetch_balance)
        except BaseException:
            if client is not self._client:
                await client.close()
            raise
        if client is not self._client:
            if self._client is not None:
                self._retired.append(self._client)
            self._client, self._fingerprint = client, fingerprint
        self._account = _account_number(self.config.exchange_id, balance)
        return SessionInfo(expires_at=None, account_numbers=[self._account])

    async def client(self) -> CcxtClient:
        """The logged-in client (logging in from the credentials source on first use)."""
        async with self._login:
            if self._client is None:
                found = await self._credentials(self.connection_id) if self._credentials else None
                if found is None:
                    raise CcxtAuthenticationError(f"connection {self.connection_id}: no credentials")
                await self.authenticate(found)
        assert self._client is not None
        return self._client

    def followed_symbols(self) -> list[str]:
        """The markets the feed and the lookups read: the configured ones and those of orders seen."""
        return list(self._symbols)

    def _remember(self, snapshot: OrderSnapshot) -> OrderSnapshot:
        self._by_client[snapshot.client_order_id] = snapshot.broker_order_id
        self._symbols.setdefault(snapshot.symbol)
        if not snapshot.status.is_terminal:  # the feed drops it once it has reported the outcome
            self.working[snapshot.broker_order_id] = snapshot.symbol
            while len(self.working) > MAX_WORKING:
                self.working.pop(next(iter(self.working)))
        return snapshot

    async def _fetch(self, order_id: str, symbol: str, **params: str) -> OrderSnapshot:
        client = await self.client()
        wire = await client.call(f"fetch_order {symbol}",
                                 lambda: client.exchange.fetch_order(order_id, symbol, params))
        return self._remember(parsing.order_snapshot(wire))

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        """Check the market's rules, look the client order id up, then create the order (once)."""
        exchange = self.config.exchange_id
        parsing.check_supported(order, exchange)
        client = await self.client()
        rules = await client.rules(order.symbol)
        reference = order.price
        if reference is None:
            reference = await self.latest_price(order.symbol)
        parsing.check_rules(order, rules, reference)
        existing = await self._lookup(order.client_order_id, order.symbol)
        if existing is not None:
            return self._same(existing, order)
        args = parsing.create_order_args(order, exchange)
        try:
            wire = await client.call(f"create_order {order.symbol}", lambda: client.exchange.create_order(**args),
                                     write=True)
        except CcxtDuplicateOrderError:
            existing = await self._lookup(order.client_order_id, order.symbol)
            if existing is None:
                raise
            return self._same(existing, order)
        return self._remember(parsing.order_snapshot(wire))

    @staticmethod
    def _same(existing: OrderSnapshot, order: BrokerOrder) -> OrderSnapshot:
        if existing.symbol != order.symbol or existing.quantity != order.quantity:
            raise CcxtDuplicateOrderError(f"client order id {order.client_order_id} is already used by order "
                                          f"{existing.broker_order_id}")
        return existing

    async def _lookup(self, client_order_id: str, symbol: str | None = None) -> OrderSnapshot | None:
        """The order with this client order id: in the market of the order that had it here, then in `symbol`
        (a submission), else in every followed market."""
        known = self._by_client.get(client_order_id)
        first = [parsing.split_broker_order_id(known)[1]] if known else []
        markets = await (await self.client()).markets()
        for candidate in dict.fromkeys([*first, *([symbol] if symbol else self._symbols)]):
            if candidate not in markets:
                continue
            try:
                return await self._fetch("", candidate, clientOrderId=client_order_id)
            except CcxtOrderNotFoundError:
                continue
        return None

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        """The order with this client order id in any followed market; None when none has it."""
        return await self._lookup(client_order_id)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        order_id, symbol = parsing.split_broker_order_id(broker_order_id)
        return await self._fetch(order_id, symbol)

    async def cancel_order(self, broker_order_id: str) -> None:
        """Cancel; an order that is already final is refused (not retryable), an unknown one is not found."""
        order_id, symbol = parsing.split_broker_order_id(broker_order_id)
        client = await self.client()
        try:
            await client.call(f"cancel_order {symbol}", lambda: client.exchange.cancel_order(order_id, symbol),
                              write=True)
        except CcxtOrderNotFoundError as exc:
            current = await self._fetch(order_id, symbol)
            if current.status.is_terminal:
                raise CcxtOrderNotCancelableError(f"order {broker_order_id} is already {current.status}",
                                                  code=exc.code) from None
            raise

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        """Refused before sending: no replace through this adapter (neither prices nor quantity)."""
        raise CcxtUnsupportedOrderError(
            f"{self.config.exchange_id} spot through brokerflow cannot replace an order (neither its prices nor its "
            "quantity): cancel it and place a new one; the change was not sent")

    async def open_orders(self, symbol: str) -> list[OrderSnapshot]:
        client = await self.client()
        wires = await client.call(f"fetch_open_orders {symbol}", lambda: client.exchange.fetch_open_orders(symbol))
        return [self._remember(parsing.order_snapshot(w)) for w in wires]

    async def list_open_orders(self) -> list[OrderSnapshot]:
        markets = await (await self.client()).markets()
        found: list[OrderSnapshot] = []
        for symbol in self.followed_symbols():
            if symbol in markets:
                found += await self.open_orders(symbol)
        return found

    async def _prices(self, balance: dict[str, Any]) -> dict[str, Decimal]:
        markets, quote = await (await self.client()).markets(), self.config.quote_currency
        prices: dict[str, Decimal] = {}
        for asset, amount in (balance.get("total") or {}).items():
            symbol = f"{asset}/{quote}"
            if asset != quote and amount and symbol in markets:
                price = await self.latest_price(symbol)
                if price is not None:
                    prices[symbol] = price
        return prices

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        """The spot balances as a cash account in the quote currency; held assets are positions."""
        client = await self.client()
        asked_at = datetime.now(UTC)  # dated when asked for: a fill booked after this is not in it
        balance = await client.call("fetch_balance", client.exchange.fetch_balance)
        return parsing.broker_account(balance, await self._prices(balance), self._account or self.config.exchange_id,
                                      self.connection_id, self.config.quote_currency, asked_at)

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        return list((await self.get_account(account_number)).positions.values())

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        """Executions of the followed markets from `since` (the exchange's clock) on."""
        return await self.fills.executions_since(since)

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        """None apart: the exchange's commission is carried by each execution (`commission`, quote currency)."""
        return []

    async def latest_price(self, symbol: str) -> Decimal | None:
        """The last trade price of the market's ticker (the mid quote without one); None when unavailable."""
        try:
            client = await self.client()
            ticker = await client.call(f"fetch_ticker {symbol}", lambda: client.exchange.fetch_ticker(symbol))
        except CcxtError as exc:
            if is_transient(exc):  # an outage: the caller retries rather than going without a price
                raise
            log.info("ccxt: no latest price for %s (%s)", symbol, type(exc).__name__)
            return None
        last = parsing.dec(ticker.get("last"))
        if last is None and ticker.get("bid") and ticker.get("ask"):
            last = ((parsing.dec(ticker["bid"]) or Decimal(0)) + (parsing.dec(ticker["ask"]) or Decimal(0))) / 2
        return last

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:
        """Fills and order outcomes, polled (ccxt's REST API has no stream); resumes from the last trade id."""
        await self.client()
        feed = TradePoller(self)
        self._feeds.append(feed)
        try:
            async for event in feed.events():
                yield event
        finally:
            self._feeds.remove(feed)
            feed.close()

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.close()
        clients, self._client, self._retired = [*self._retired, self._client], None, []
        for client in clients:
            if client is not None:
                await client.close()
