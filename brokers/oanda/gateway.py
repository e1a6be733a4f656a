"""OandaGateway: the domain's BrokerGateway port over OANDA's v20 REST API (forex)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AssetClass, AuthMethod, OrderSide, OrderType, TimeInForce
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, SessionInfo, TradeEvent, is_transient
from domain.broker_integration.value_objects import (
    BrokerCapabilities,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
)

from . import parsing
from .client import OandaClient
from .config import OandaConfig
from .errors import (
    OandaAmbiguousOutcomeError,
    OandaDuplicateClientIdError,
    OandaError,
    OandaInsufficientMarginError,
    OandaOrderNotCancelableError,
    OandaOrderNotFoundError,
    OandaProtocolError,
    OandaRejectedError,
    OandaUnavailableError,
)
from .feed import TransactionFeed
from .fills import FillLedger, OrderInfo
from .margin import MarginRateCache, with_margin_terms
from .schemas import OandaAccountSummary, OandaOrder, OandaPosition, OandaTransaction, validated
from .sessions import CredentialsSource, OandaSession, account_path
from .stream import transactions_since

__all__ = ["BROKER_NAME", "OANDA_CAPABILITIES", "CredentialsSource", "OandaGateway", "with_margin_terms"]

log = logging.getLogger(__name__)

BROKER_NAME = "oanda"
OANDA_CAPABILITIES = BrokerCapabilities(
    broker=BROKER_NAME,
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP}),
    time_in_force=frozenset({TimeInForce.GTC, TimeInForce.GTD, TimeInForce.DAY, TimeInForce.FOK, TimeInForce.IOC}),
    asset_classes=frozenset({AssetClass.FOREX}),
    auth_methods=frozenset({AuthMethod.OAUTH2}),
    supports_fractional=False,
    supports_extended_hours=False,
    supports_short=True,
    supports_replace=True,
    replace_keeps_id=False,
    supports_replace_quantity=True,
    supports_trail_percent=False,
    tick_size=Decimal("0.00001"),
    sub_penny_tick=Decimal("0.00001"),
    sub_penny_threshold=Decimal("0"),
)


# Cancels in the create's own batch that mean "refused", not "did not trade" (FOK/IOC without liquidity).
_REFUSALS = frozenset({"INSUFFICIENT_MARGIN", "ACCOUNT_LOCKED", "ACCOUNT_ORDER_CREATION_LOCKED", "MARKET_HALTED",
                       "ACCOUNT_NOT_ACTIVE", "ACCOUNT_NEW_POSITIONS_LOCKED", "INSTRUMENT_NOT_TRADEABLE"})
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError, OSError, TimeoutError)


class OandaGateway:
    """One OANDA personal access token: every v20 account it reaches (or the one pinned in the credentials)."""

    def __init__(self, connection_id: str, config: OandaConfig | None = None, *,
                 credentials: CredentialsSource | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.connection_id = connection_id
        self.config = config or OandaConfig()
        self._session = OandaSession(connection_id, self.config, credentials, transport)
        self._orders: dict[str, OrderInfo] = {}
        self._sides: dict[str, OrderSide] = {}
        self.ledger = FillLedger(connection_id)
        self._feeds: list[TransactionFeed] = []
        self.margin_rates = MarginRateCache(self.config.margin_rates_ttl, self.config.margin_rates_retry)

    @property
    def broker(self) -> str:
        return BROKER_NAME

    def capabilities(self) -> BrokerCapabilities:
        """Forex; market, limit, stop; GTC, GTD, DAY (GFD), FOK, IOC; whole units; replace = cancel + create."""
        return OANDA_CAPABILITIES

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        """Verify the token with GET /v3/accounts; its accounts (or the pinned one) are the session's."""
        accounts = await self._session.login(credentials)
        return SessionInfo(expires_at=credentials.token_expires_at, account_numbers=accounts)

    async def client(self) -> OandaClient:
        """The logged-in client (logging in from the credentials source on first use)."""
        return await self._session.client()

    async def accounts(self) -> list[str]:
        return await self._session.accounts()

    async def _send(self, method: str, path: str, **kw: Any) -> Any:
        return await (await self.client()).send(method, path, **kw)

    # -- what is known of each order ----------------------------------------------------------------------

    def _remember(self, wire: OandaOrder, account: str) -> OrderInfo:
        units = parsing.dec(wire.units)
        client_id = wire.clientExtensions.id if wire.clientExtensions and wire.clientExtensions.id else wire.id
        root = parsing.root_client_order_id(client_id)
        kind = {"LIMIT": OrderType.LIMIT, "STOP": OrderType.STOP, "MARKET": OrderType.MARKET}.get(wire.type)
        info = OrderInfo(wire.id, root, parsing.from_instrument(wire.instrument or ""),
                         parsing.side_of(units, self._sides.get(root)), abs(units), account, kind,
                         parsing.decimal_or_none(wire.price), wire.replacesOrderID)
        self._orders[wire.id] = info
        return info

    def info_from_create(self, transaction: OandaTransaction, account: str) -> OrderInfo:
        """What an order's create transaction says of it."""
        wire = OandaOrder(id=transaction.id or "", type=transaction.type.removesuffix("_ORDER"), state="PENDING",
                          instrument=transaction.instrument, units=transaction.units, price=transaction.price,
                          clientExtensions=transaction.clientExtensions, replacesOrderID=transaction.replacesOrderID)
        return self._remember(wire, account)

    async def info_of(self, broker_order_id: str, account: str | None = None) -> OrderInfo:
        """What a transaction lacks, read from the order when not known yet."""
        known = self._orders.get(broker_order_id)
        if known is not None:
            return known
        wire, found_in = await self.fetch_order(broker_order_id, account)
        return self._remember(wire, found_in)

    async def fetch_order(self, specifier: str, account: str | None = None) -> tuple[OandaOrder, str]:
        """GET one order (by id, or `@<client id>`) in its account, else in each."""
        known = self._orders.get(specifier)
        candidates = [account] if account else [known.account] if known else await self.accounts()
        missing: OandaOrderNotFoundError | None = None
        for candidate in candidates:
            path = account_path(candidate, "orders", quote(specifier, safe="@"))
            try:
                payload = await self._send("GET", path)
            except OandaOrderNotFoundError as exc:
                missing = exc
                continue
            wire = validated(OandaOrder, (payload or {}).get("order"), f"GET {path}")
            self._remember(wire, candidate)
            return wire, candidate
        raise missing or OandaOrderNotFoundError(f"order {specifier}: no account has it", status_code=404)

    async def load_fills(self, wire: OandaOrder, account: str) -> list[ExecutionReport]:
        """The order's fills (and cancel reason), read back from its transactions once it is final."""
        if wire.id in self.ledger.complete or not wire.id.isdigit():
            return self.ledger.reports(wire.id)
        info = self._orders.get(wire.id) or self._remember(wire, account)
        after = str(int(wire.id) - 1)
        for tx in await transactions_since(await self.client(), account, after, self.config.transactions_page):
            if tx.orderID != wire.id:
                continue
            if tx.type == "ORDER_FILL":
                self.ledger.add(tx, info)
            elif tx.type == "ORDER_CANCEL":
                self.ledger.cancelled(tx)
        if wire.state in ("FILLED", "CANCELLED"):
            self.ledger.complete.add(wire.id)
        return self.ledger.reports(wire.id)

    async def snapshot(self, wire: OandaOrder, account: str) -> OrderSnapshot:
        fills = await self.load_fills(wire, account)
        return parsing.order_snapshot(wire, fills, self.ledger.cancel_reasons.get(wire.id))

    # -- orders -------------------------------------------------------------------------------------------

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        """POST the order with the client order id as `clientExtensions.id`; OANDA refuses a second order with
        the same client id, so a resubmission after a lost answer finds the first one instead."""
        body = parsing.order_request(order)  # refuses what OANDA cannot do before anything is sent
        account = await self._session.account(order.account_id)
        self._sides[order.client_order_id] = order.side
        path = account_path(account, "orders")
        try:
            payload = await self._send("POST", path, body={"order": body})
        except OandaDuplicateClientIdError:
            wire, _ = await self.fetch_order(f"@{order.client_order_id}", account)
            if wire.instrument != body["instrument"] or parsing.dec(wire.units) != Decimal(body["units"]):
                raise
            return await self.snapshot(wire, account)
        return self._placed(order, account, payload, f"POST {path}")

    def _placed(self, order: BrokerOrder, account: str, payload: Any, what: str) -> OrderSnapshot:
        """The snapshot of a 201 answer: the create transaction and what the order did in the same batch."""
        body = payload if isinstance(payload, dict) else {}
        create = validated(OandaTransaction, body.get("orderCreateTransaction"), what, placed=True)
        if create.id is None:
            raise OandaAmbiguousOutcomeError(f"{what}: no order id in the answer")
        info = self.info_from_create(create, account)
        fill = body.get("orderFillTransaction")
        if fill is not None:
            self.ledger.add(validated(OandaTransaction, fill, what, placed=True), info)
        cancel = body.get("orderCancelTransaction")
        reason = None
        if cancel is not None:
            cancelled = validated(OandaTransaction, cancel, what, placed=True)
            self.ledger.cancelled(cancelled)
            reason = cancelled.reason
        filled = self.ledger.filled(info.broker_order_id)
        if reason in _REFUSALS and filled == 0:
            if reason == "INSUFFICIENT_MARGIN":  # OANDA may have raised a rate since we read them: read them again
                self.margin_rates.forget(account)
            error = OandaInsufficientMarginError if reason == "INSUFFICIENT_MARGIN" else OandaRejectedError
            raise error(f"{what}: order {create.id} cancelled at once ({reason})", code=reason)
        wire = OandaOrder(id=create.id, type=info.order_type.value if info.order_type else "MARKET",
                          state="FILLED" if filled >= info.quantity else "CANCELLED" if cancel else "PENDING",
                          instrument=create.instrument, units=create.units, price=create.price,
                          createTime=create.time, clientExtensions=create.clientExtensions)
        if wire.state != "PENDING":
            self.ledger.complete.add(create.id)
        return parsing.order_snapshot(wire, self.ledger.reports(create.id), reason)

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        """The order carrying the client order id (`@<id>`), in any account of the session; None when none does."""
        try:
            wire, account = await self.fetch_order(f"@{client_order_id}")
        except OandaOrderNotFoundError:
            return None
        return await self.snapshot(wire, account)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        wire, account = await self.fetch_order(broker_order_id)
        return await self.snapshot(wire, account)

    async def cancel_order(self, broker_order_id: str) -> None:
        """PUT …/orders/{id}/cancel; an order that is no longer pending is refused (never retried)."""
        info = await self.info_of(broker_order_id)
        path = account_path(info.account, "orders", quote(broker_order_id, safe=""), "cancel")
        try:
            await self._send("PUT", path)
        except OandaOrderNotFoundError:
            wire, _ = await self.fetch_order(broker_order_id, info.account)
            raise OandaOrderNotCancelableError(
                f"PUT {path}: order {broker_order_id} is {wire.state}, not pending", status_code=404) from None
        except (OandaAmbiguousOutcomeError, OandaUnavailableError):
            wire, _ = await self.fetch_order(broker_order_id, info.account)
            if wire.state != "CANCELLED":
                raise

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        """PUT …/orders/{id}: OANDA cancels the order and creates its replacement under a new id."""
        wire, account = await self.fetch_order(broker_order_id)
        if wire.replacedByOrderID:  # replaced already (a retry whose first answer was lost)
            return await self.get_order(wire.replacedByOrderID)
        if wire.state != "PENDING":
            raise OandaOrderNotCancelableError(f"order {broker_order_id} is {wire.state}, not pending")
        await self.load_fills(wire, account)
        filled = self.ledger.filled(wire.id)
        body = parsing.replace_request(amendment, wire, filled)
        path = account_path(account, "orders", quote(broker_order_id, safe=""))
        try:
            payload = await self._send("PUT", path, body={"order": body})
        except (OandaAmbiguousOutcomeError, OandaUnavailableError):
            now, _ = await self.fetch_order(broker_order_id, account)
            if now.replacedByOrderID is None:
                raise
            return await self.get_order(now.replacedByOrderID)
        create = validated(OandaTransaction, (payload or {}).get("orderCreateTransaction"), f"PUT {path}",
                           placed=True)
        if create.id is None:
            raise OandaAmbiguousOutcomeError(f"PUT {path}: no order id in the answer")
        return await self.get_order(create.id)

    async def list_open_orders(self) -> list[OrderSnapshot]:
        snapshots: list[OrderSnapshot] = []
        for account in await self.accounts():
            path = account_path(account, "pendingOrders")
            payload = await self._send("GET", path)
            for item in (payload or {}).get("orders") or []:
                snapshots.append(await self.snapshot(validated(OandaOrder, item, f"GET {path}"), account))
        return snapshots

    # -- accounts -----------------------------------------------------------------------------------------

    async def _positions(self, account: str) -> list[OandaPosition]:
        path = account_path(account, "openPositions")
        payload = await self._send("GET", path)
        return [validated(OandaPosition, p, f"GET {path}") for p in (payload or {}).get("positions") or []]

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        account = await self._session.account(account_number)
        path = account_path(account, "summary")
        asked_at = datetime.now(UTC)  # dated when asked for: a fill booked after this is not in it
        payload = await self._send("GET", path)
        wire = validated(OandaAccountSummary, (payload or {}).get("account"), f"GET {path}")
        found = parsing.broker_account(wire, await self._positions(account), self.connection_id, asked_at)
        return with_margin_terms(found, wire, await self.margin_rates.rates(account, self._instruments))

    async def _instruments(self, account: str) -> Any:
        """GET …/instruments: every instrument the account may trade, each with its margin rate."""
        return await self._send("GET", account_path(account, "instruments"))

    async def list_accounts(self) -> list[BrokerAccount]:
        """Every v20 account the token reaches, with its positions."""
        return [await self.get_account(account) for account in await self.accounts()]

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        return [parsing.position(p) for p in await self._positions(await self._session.account(account_number))]

    async def _fills_from(self, account: str, since: datetime) -> list[OandaTransaction]:
        """ORDER_FILLs from `since` on: GET …/transactions?from=&type=ORDER_FILL, then each idrange page."""
        path = account_path(account, "transactions")
        stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        index = await self._send("GET", path, params={"from": stamp, "type": "ORDER_FILL", "pageSize": 1000})
        fills: list[OandaTransaction] = []
        for page in (index or {}).get("pages") or []:
            parts = urlsplit(str(page))  # only the path and query: the token goes to our host alone
            if not parts.path.startswith(path):
                raise OandaProtocolError(f"GET {path}: page outside the account: {parts.path[:80]!r}")
            payload = await self._send("GET", parts.path, params=dict(parse_qsl(parts.query)))
            fills += [validated(OandaTransaction, t, f"GET {parts.path}") for t in
                      (payload or {}).get("transactions") or []]
        return [f for f in fills if f.type == "ORDER_FILL" and f.orderID]

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        """Every fill from `since` on in every account, oldest first, with its order's cumulative quantity."""
        reports: list[ExecutionReport] = []
        for account in await self.accounts():
            fills = await self._fills_from(account, since)
            for order_id in dict.fromkeys(f.orderID for f in fills if f.orderID):
                wire, _ = await self.fetch_order(order_id, account)
                await self.load_fills(wire, account)
            wanted = {f"{f.accountID or 'oanda'}:{f.id}" for f in fills}
            reports += [r for order_id in dict.fromkeys(f.orderID for f in fills if f.orderID)
                        for r in self.ledger.reports(order_id) if r.execution_id in wanted]
        return sorted(reports, key=lambda r: r.executed_at)

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        """None: OANDA prices into the spread; commissions, where charged, come on each fill."""
        return []

    async def latest_price(self, symbol: str) -> Decimal | None:
        """The mid of the current bid and ask (GET …/pricing); None for what OANDA does not quote."""
        try:
            instrument = parsing.to_instrument(symbol)
            account = await self._session.account(None)
            payload = await self._send("GET", account_path(account, "pricing"), params={"instruments": instrument})
        except OandaError as exc:
            if is_transient(exc):  # an outage: the caller retries rather than going without a price
                raise
            log.info("oanda: no latest price for %s (%s)", symbol, type(exc).__name__)
            return None
        for price in (payload or {}).get("prices") or []:
            if isinstance(price, dict) and price.get("instrument") == instrument:
                bids, asks = price.get("bids") or [], price.get("asks") or []
                if bids and asks:
                    return ((parsing.dec(bids[0].get("price")) + parsing.dec(asks[0].get("price"))) / 2).normalize()
        return None

    # -- the stream ---------------------------------------------------------------------------------------

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:
        """Order events of every account; what happened while the stream was down is read back."""
        feed = TransactionFeed(self, await self.accounts())
        self._feeds.append(feed)
        try:
            async for event in feed.events():
                yield event
        except _TRANSPORT_ERRORS as exc:
            raise OandaUnavailableError(f"transaction stream: connection failed ({type(exc).__name__})") from None
        finally:
            self._feeds.remove(feed)
            feed.close()

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.close()
        await self._session.aclose()
