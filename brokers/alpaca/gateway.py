"""AlpacaGateway: the domain's BrokerGateway port over Alpaca's Trading API v2."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from domain.broker_integration.entities import BrokerAccount, Position
from domain.broker_integration.enums import AssetClass, AuthMethod, OrderSide, OrderType, TimeInForce
from domain.broker_integration.order_groups import LegRole, OrderGroupRequest, leg_client_order_id
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, SessionInfo, TradeEvent
from domain.broker_integration.value_objects import (
    BrokerCapabilities,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
)

from . import parsing
from .config import AlpacaConfig
from .errors import (
    AlpacaAmbiguousOutcomeError,
    AlpacaDuplicateClientOrderIdError,
    AlpacaError,
    AlpacaOrderNotFoundError,
    AlpacaProtocolError,
    AlpacaRejectedError,
    AlpacaUnavailableError,
)
from .fees import fee_from_activity, fee_pages
from .groups import group_legs, group_request
from .pages import fill_activities, open_orders
from .recovery import BoundedMap, TradeUpdateFeed
from .schemas import AlpacaAccount, AlpacaFillActivity, AlpacaLatestTrade, AlpacaOrder, AlpacaPosition, validated
from .sessions import AlpacaSession, CredentialsSource, SessionPool

__all__ = ["ALPACA_CAPABILITIES", "BROKER_NAME", "AlpacaGateway"]

log = logging.getLogger(__name__)

BROKER_NAME = "alpaca"
ALPACA_CAPABILITIES = BrokerCapabilities(
    broker=BROKER_NAME,
    order_types=frozenset(OrderType),
    time_in_force=frozenset(TimeInForce) - {TimeInForce.GTD},
    asset_classes=frozenset({AssetClass.EQUITY, AssetClass.CRYPTO}),
    auth_methods=frozenset({AuthMethod.API_KEY, AuthMethod.OAUTH2}),
    supports_fractional=True,
    supports_extended_hours=True,
    supports_short=True,
    supports_replace=True,
    supports_trail_percent=True,
    supports_order_classes=True,
)
ACTIVITY_PAGE = 100
OPEN_ORDERS_PAGE = 500  # Alpaca's largest `limit`
# What the gateway remembers of the orders it saw: a miss costs a GET of the order, nothing more.
ORDER_INDEX_SIZE = 4096
SIDE_INDEX_SIZE = 16_384
# Failures below the HTTP and WebSocket clients; none may leave the gateway untyped.
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, WebSocketException, OSError, TimeoutError)


class AlpacaGateway:
    """One Alpaca connection (paper, live or a base URL); serves every account whose keys it was given."""

    def __init__(self, connection_id: str, config: AlpacaConfig | None = None, *,
                 credentials: CredentialsSource | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 ws_connect: Callable[..., Any] = connect) -> None:
        self.connection_id = connection_id
        self.config = config or AlpacaConfig()
        self._pool = SessionPool(connection_id, self.config, credentials=credentials, transport=transport)
        self._ws_connect = ws_connect
        # broker order id -> (client order id, account number); sessions are looked up per use.
        self._orders: BoundedMap[str, tuple[str, str]] = BoundedMap(ORDER_INDEX_SIZE)
        self._sides: BoundedMap[str, OrderSide] = BoundedMap(SIDE_INDEX_SIZE)
        self._feeds: list[TradeUpdateFeed] = []

    @property
    def broker(self) -> str:
        """The broker's name in the registry."""
        return BROKER_NAME

    def capabilities(self) -> BrokerCapabilities:
        """Every order type; all times in force but GTD; equities and crypto; keys or OAuth."""
        return ALPACA_CAPABILITIES

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        """Verify keys (or an OAuth token) with GET /v2/account; the session lasts while the keys do."""
        session = await self._pool.login(credentials)
        others = await self._pool.login_more(credentials)
        expires = credentials.token_expires_at if session.auth.is_oauth else None
        return SessionInfo(expires_at=expires, account_numbers=[s.account_number for s in (session, *others)])

    def _remember(self, wire: AlpacaOrder, session: AlpacaSession) -> OrderSnapshot:
        self._orders[wire.id] = (wire.client_order_id, session.account_number)
        return parsing.order_snapshot(wire)

    async def _session_of(self, broker_order_id: str) -> AlpacaSession | None:
        """The session of the account that owns an order; None when it must be looked for."""
        known = self._orders.get(broker_order_id)
        session = None if known is None else await self._pool.find(known[1])
        if session is not None:
            return session
        sessions = await self._pool.all()
        return sessions[0] if len(sessions) == 1 else None

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        """POST /v2/orders with the client order id; a duplicate id returns the order already there."""
        session = await self._pool.get(order.account_id)
        body = parsing.order_request(order).to_json()
        self._sides[order.client_order_id] = order.side
        try:
            payload = await session.trading.send("POST", "/v2/orders", json_body=body)
        except AlpacaDuplicateClientOrderIdError:
            existing = await self.get_order_by_client_id(order.client_order_id)
            if existing is None or existing.symbol != order.symbol or existing.quantity != order.quantity:
                raise
            return existing
        return self._remember(validated(AlpacaOrder, payload, "POST /v2/orders", placed=True), session)

    async def submit_group(self, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        """POST /v2/orders with an order class (bracket, oco, oto); the legs come back with the parent."""
        session = await self._pool.get(group.account_id)
        body = group_request(group).to_json()
        for leg in group.legs:
            self._sides[leg_client_order_id(group.group_id, leg.role)] = leg.side
        payload = await session.trading.send("POST", "/v2/orders", json_body=body)
        parent = validated(AlpacaOrder, payload, "POST /v2/orders", placed=True)
        self._remember_group(parent, session)
        if not parent.legs:  # an answer without its legs: ask for them
            parent, _ = await self._nested(parent.id, session)
        return group_legs(parent, group)

    async def get_group_by_client_id(self, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        """The group's orders by role, found by the parent's client order id ({} when no account has it)."""
        client_order_id = leg_client_order_id(group.group_id, group.parent_role)
        for session in await self._pool.all():
            found = await self._by_client_id(session, client_order_id)
            if found is not None:
                parent, _ = await self._nested(found.id, session)
                return group_legs(parent, group)
        return {}

    async def _nested(self, broker_order_id: str, session: AlpacaSession) -> tuple[AlpacaOrder, AlpacaSession]:
        path = f"/v2/orders/{quote(broker_order_id, safe='')}"
        payload = await session.trading.send("GET", path, params={"nested": "true"})
        parent = validated(AlpacaOrder, payload, f"GET {path}")
        self._remember_group(parent, session)
        return parent, session

    def _remember_group(self, parent: AlpacaOrder, session: AlpacaSession) -> None:
        for order in (parent, *(parent.legs or [])):
            self._remember(order, session)

    async def _by_client_id(self, session: AlpacaSession, client_order_id: str) -> AlpacaOrder | None:
        try:
            payload = await session.trading.send("GET", "/v2/orders:by_client_order_id",
                                                 params={"client_order_id": client_order_id})
        except AlpacaOrderNotFoundError:
            return None
        return validated(AlpacaOrder, payload, "GET /v2/orders:by_client_order_id")

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        """GET /v2/orders:by_client_order_id in every account; None when no account has it."""
        for session in await self._pool.all():
            wire = await self._by_client_id(session, client_order_id)
            if wire is not None:
                return self._remember(wire, session)
        return None

    async def fetch_order(self, broker_order_id: str,
                          session: AlpacaSession | None = None) -> tuple[AlpacaOrder, AlpacaSession]:
        """GET /v2/orders/{id} as Alpaca's order, with the session that owns it (asked of each if unknown)."""
        path = f"/v2/orders/{quote(broker_order_id, safe='')}"
        session = session or await self._session_of(broker_order_id)
        candidates = [session] if session is not None else await self._pool.all()
        missing: AlpacaOrderNotFoundError | None = None
        for candidate in candidates:
            try:
                payload = await candidate.trading.send("GET", path)
            except AlpacaOrderNotFoundError as exc:
                missing = exc
                continue
            wire = validated(AlpacaOrder, payload, f"GET {path}")
            self._remember(wire, candidate)
            return wire, candidate
        raise missing or AlpacaOrderNotFoundError(f"GET {path}: no account has this order", status_code=404)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        """GET /v2/orders/{id}."""
        return parsing.order_snapshot((await self.fetch_order(broker_order_id))[0])

    async def cancel_order(self, broker_order_id: str) -> None:
        """DELETE /v2/orders/{id}: the cancel is accepted; the outcome arrives as a trade update."""
        session = await self._session_of(broker_order_id)
        if session is None:
            _, session = await self.fetch_order(broker_order_id)
        await session.trading.send("DELETE", f"/v2/orders/{quote(broker_order_id, safe='')}")

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        """PATCH /v2/orders/{id}: a new order with a new id; a replace that already happened is returned."""
        if amendment.is_empty():
            raise AlpacaRejectedError("replace: nothing to change")
        old, session = await self.fetch_order(broker_order_id)
        body = parsing.replace_request(amendment, old).to_json()
        done = await self._replacement(old, session, body["client_order_id"], lookup=False)
        if done is not None:
            return done
        path = f"/v2/orders/{quote(broker_order_id, safe='')}"
        try:
            payload = await session.trading.send("PATCH", path, json_body=body)
        except (AlpacaAmbiguousOutcomeError, AlpacaUnavailableError, AlpacaRejectedError):
            # The answer was lost, or the order was replaced meanwhile: the broker's state decides.
            now, _ = await self.fetch_order(broker_order_id, session)
            found = await self._replacement(now, session, body["client_order_id"], lookup=True)
            if found is None:
                raise
            return found
        return self._remember(validated(AlpacaOrder, payload, f"PATCH {path}", placed=True), session)

    async def _replacement(self, old: AlpacaOrder, session: AlpacaSession, client_order_id: str,
                           lookup: bool) -> OrderSnapshot | None:
        """The order that replaced `old` (by `replaced_by`, else by our replacement's client id), if any."""
        if old.replaced_by:
            return self._remember((await self.fetch_order(old.replaced_by, session))[0], session)
        found = await self._by_client_id(session, client_order_id) if lookup or old.status == "pending_replace" \
            else None
        if found is not None:
            return self._remember(found, session)
        if old.status == "pending_replace":
            raise AlpacaUnavailableError(f"order {old.id} has a replace pending at the broker; asking again")
        return None

    async def list_open_orders(self) -> list[OrderSnapshot]:
        """GET /v2/orders?status=open in every account, every page."""
        snapshots: list[OrderSnapshot] = []
        for session in await self._pool.all():
            wires = await open_orders(session.trading.send, OPEN_ORDERS_PAGE)
            snapshots += [self._remember(wire, session) for wire in wires]
        return snapshots

    async def _positions(self, session: AlpacaSession) -> list[AlpacaPosition]:
        payload = await session.trading.send("GET", "/v2/positions")
        if not isinstance(payload, list):
            raise AlpacaProtocolError("GET /v2/positions: expected a list")
        return [validated(AlpacaPosition, item, "GET /v2/positions") for item in payload]

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        """GET /v2/account and /v2/positions; the snapshot is dated when it was asked for."""
        session = await self._pool.get(account_number)
        asked_at = datetime.now(UTC)
        payload, positions = await asyncio.gather(session.trading.send("GET", "/v2/account"),
                                                  self._positions(session))
        wire = validated(AlpacaAccount, payload, "GET /v2/account")
        return parsing.broker_account(wire, positions, self.connection_id, asked_at)

    async def list_accounts(self) -> list[BrokerAccount]:
        """Every account this connection reaches (one per key or token), with its positions."""
        await self._pool.reload()
        return [await self.get_account(session.account_number) for session in await self._pool.all()]

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        """GET /v2/positions (quantities negative when short)."""
        return [parsing.position(p) for p in await self._positions(await self._pool.get(account_number))]

    async def fill_activities(self, session: AlpacaSession, since: datetime) -> list[AlpacaFillActivity]:
        """GET /v2/account/activities/FILL after `since`, oldest first, every page."""
        return await fill_activities(session.trading.send, since, ACTIVITY_PAGE)

    async def client_order_id_of(self, session: AlpacaSession, broker_order_id: str) -> str:
        """The client id of an order (activities carry only the broker's id)."""
        known = self._orders.get(broker_order_id)
        if known is not None:
            return known[0]
        wire, _ = await self.fetch_order(broker_order_id, session)
        return wire.client_order_id

    async def report(self, session: AlpacaSession, activity: AlpacaFillActivity) -> ExecutionReport:
        """A FILL activity as an execution report."""
        client_id = await self.client_order_id_of(session, activity.order_id)
        side = self._sides.get(parsing.root_client_order_id(client_id))
        return parsing.execution_from_activity(activity, client_id, self.connection_id, side)

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        """Every fill from `since` on in every account, oldest first (FILL activities).

        Alpaca's `after` is exclusive and the caller's clock is not Alpaca's: the query reaches back
        `gap_margin_seconds`, so a few earlier fills may come too (callers deduplicate by execution id).
        """
        after = since - timedelta(seconds=self.config.gap_margin_seconds)
        reports: list[ExecutionReport] = []
        for session in await self._pool.all():
            for activity in await self.fill_activities(session, after):
                reports.append(await self.report(session, activity))
        return sorted(reports, key=lambda r: r.executed_at)

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        """Every fee that names an order, from `since` (less the gap margin) on, in every account."""
        after = since.astimezone(UTC) - timedelta(seconds=self.config.gap_margin_seconds)
        fees: list[FeeReport] = []
        for session in await self._pool.all():
            for activity in await fee_pages(session.trading.send, after):
                if activity.order_id is not None:
                    client_id = await self.client_order_id_of(session, activity.order_id)
                    fees.append(fee_from_activity(activity, client_id, self.connection_id))
        return sorted(fees, key=lambda f: f.charged_at)

    async def broker_time(self, session: AlpacaSession) -> datetime:
        """Alpaca's current time from GET /v2/clock (ours when the clock cannot be read)."""
        try:
            payload = await session.trading.send("GET", "/v2/clock")
            return parsing.parse_timestamp(str(payload["timestamp"]))
        except (AlpacaError, KeyError, TypeError, ValueError):
            return datetime.now(UTC)

    async def latest_price(self, symbol: str) -> Decimal | None:
        """The last trade price from market data; None when there is none or no data subscription."""
        session = await self._pool.get()
        crypto = "/" in symbol
        path = "/v1beta3/crypto/us/latest/trades" if crypto else f"/v2/stocks/{quote(symbol, safe='')}/trades/latest"
        try:
            payload = await session.data.send("GET", path, params={"symbols": symbol} if crypto else None)
        except (AlpacaOrderNotFoundError, AlpacaRejectedError) as exc:
            # No data for the symbol (or no subscription). An outage is raised: the check is retried, not
            # refused for want of a price (found by `make chaos`: market orders refused during a 5xx burst).
            log.info("alpaca: no latest price for %s (%s)", symbol, type(exc).__name__)
            return None
        trade = (payload or {}).get("trades", {}).get(symbol) if crypto else (payload or {}).get("trade")
        if not trade:
            return None
        return parsing.decimal_or_none(validated(AlpacaLatestTrade, trade, f"GET {path}").p)

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:
        """The trade_updates stream of every account; fills missed while it was down are replayed."""
        feed = TradeUpdateFeed(self, await self._pool.all(), self._ws_connect)
        self._feeds.append(feed)
        try:
            async for event in feed.events():
                yield event
        except _TRANSPORT_ERRORS as exc:
            raise AlpacaUnavailableError(f"trade_updates: connection failed ({type(exc).__name__})") from None
        finally:
            self._feeds.remove(feed)
            await feed.aclose()

    def side_of(self, client_order_id: str) -> OrderSide | None:
        """The side brokerflow submitted for an order (Alpaca knows only buy and sell)."""
        return self._sides.get(parsing.root_client_order_id(client_order_id))

    def note(self, wire: AlpacaOrder, session: AlpacaSession) -> OrderSnapshot:
        """Remember an order seen on the stream."""
        return self._remember(wire, session)

    async def close(self) -> None:
        """Stop the streams and close every HTTP client."""
        for feed in list(self._feeds):
            await feed.aclose()
        await self._pool.aclose()

