"""TradierGateway: the domain's BrokerGateway port over Tradier's brokerage API v1 (equities and equity options),
with bracket/OCO/OTO groups held by Tradier itself (its otoco/oco/oto classes)."""

from __future__ import annotations

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
from domain.broker_integration.enums import AssetClass, AuthMethod, OrderType, TimeInForce
from domain.broker_integration.order_groups import LegRole, OrderGroupRequest, leg_client_order_id
from domain.broker_integration.order_state import OrderStatus
from domain.broker_integration.ports import OrderAmendment, OrderSnapshot, SessionInfo, TradeEvent, is_transient
from domain.broker_integration.value_objects import (
    BrokerCapabilities,
    BrokerOrder,
    ConnectionCredentials,
    ExecutionReport,
    FeeReport,
)

from . import groups, options, parsing
from .client import TradierClient
from .config import TradierConfig
from .errors import (
    TradierAmbiguousOutcomeError,
    TradierDuplicateTagError,
    TradierError,
    TradierOrderNotFoundError,
    TradierProtocolError,
    TradierUnavailableError,
)
from .feed import AccountEventFeed
from .fills import FillLedger, OrderInfo
from .schemas import (
    TradierBalances,
    TradierGroupOrder,
    TradierOrder,
    TradierOrderAck,
    TradierPosition,
    TradierQuote,
    items,
    validated,
)
from .sessions import CredentialsSource, TradierSession

__all__ = ["BROKER_NAME", "TRADIER_CAPABILITIES", "CredentialsSource", "TradierGateway"]

log = logging.getLogger(__name__)

BROKER_NAME = "tradier"
TRADIER_CAPABILITIES = BrokerCapabilities(
    broker=BROKER_NAME,
    order_types=frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT}),
    time_in_force=frozenset({TimeInForce.DAY, TimeInForce.GTC}),
    asset_classes=frozenset({AssetClass.EQUITY, AssetClass.OPTION}),
    auth_methods=frozenset({AuthMethod.OAUTH2}),
    supports_fractional=False,
    supports_extended_hours=False,
    supports_short=True,
    supports_replace=True,
    supports_trail_percent=False,
    replace_keeps_id=True,
    supports_replace_quantity=False,
    supports_order_classes=True,  # otoco / oco / oto (brokers/tradier/groups.py)
)
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL, WebSocketException, OSError, TimeoutError)


class TradierGateway:
    """One Tradier access token: every account of its user profile (or the one pinned in the credentials)."""

    def __init__(self, connection_id: str, config: TradierConfig | None = None, *,
                 credentials: CredentialsSource | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 ws_connect: Callable[..., Any] = connect) -> None:
        self.connection_id = connection_id
        self.config = config or TradierConfig()
        self._session = TradierSession(connection_id, self.config, credentials, transport)
        self._ws_connect = ws_connect
        self._orders: dict[str, OrderInfo] = {}
        self._parents: dict[str, str] = {}  # a group leg's order id -> the group's
        self.ledger = FillLedger(connection_id)
        self._feeds: list[AccountEventFeed] = []

    @property
    def broker(self) -> str:
        return BROKER_NAME

    def capabilities(self) -> BrokerCapabilities:
        """Equities and options; market, limit, stop, stop-limit; DAY and GTC; modify in place (prices only);
        bracket/OCO/OTO as Tradier's own classes unless the config turns them off; OAuth."""
        if self.config.native_order_groups:
            return TRADIER_CAPABILITIES
        return TRADIER_CAPABILITIES.model_copy(update={"supports_order_classes": False})

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        """Verify the token with GET /v1/user/profile; its accounts (or the pinned one) are the session's."""
        accounts = await self._session.login(credentials)
        return SessionInfo(expires_at=credentials.token_expires_at, account_numbers=accounts)

    async def client(self) -> TradierClient:
        """The logged-in client (logging in from the credentials source on first use)."""
        return await self._session.client()

    async def accounts(self) -> list[str]:
        return await self._session.accounts()

    async def _account(self, account: str | None) -> str:
        return await self._session.account(account)

    def _remember(self, wire: TradierOrder, account: str) -> OrderSnapshot:
        snapshot = options.report_snapshot(wire)  # an option order is named by its contract
        self._orders[snapshot.broker_order_id] = OrderInfo(snapshot.broker_order_id, snapshot.client_order_id,
                                                           snapshot.symbol, options.report_side(wire), account,
                                                           snapshot.quantity)
        return snapshot

    async def _listed(self, account: str) -> tuple[str, list[object]]:
        path = f"/v1/accounts/{quote(account, safe='')}/orders"
        payload = await (await self.client()).send("GET", path, params={"includeTags": "true"})
        return path, items(payload, "orders", "order")

    async def _orders_of(self, account: str) -> list[TradierOrder]:
        """The account's orders; an oto/oco/otoco group counts as its legs (they are the orders that trade)."""
        path, listed = await self._listed(account)
        found: list[TradierOrder] = []
        for raw in listed:
            if groups.is_group(raw):
                found += self._legs_of(validated(TradierGroupOrder, raw, f"GET {path}"))
            else:
                found.append(validated(TradierOrder, raw, f"GET {path}"))
        return found

    def _legs_of(self, parent: TradierGroupOrder) -> list[TradierOrder]:
        legs = groups.leg_wires(parent)
        self._parents.update({str(leg.id): str(parent.id) for leg in legs})
        return legs

    async def submit_order(self, order: BrokerOrder) -> OrderSnapshot:
        """POST the form with the client order id as `tag`, after making sure no order carries the tag yet.

        Tradier does not refuse a repeated tag, so the lookup is what keeps a resubmission to one order.
        """
        option = order.asset_class is AssetClass.OPTION
        # Refuse what Tradier cannot do before anything is sent.
        form = None if option else parsing.order_form(order)
        if option:
            options.check_option_order(order)
        account = await self._account(order.account_id)
        existing = await self._by_tag(account, order.client_order_id)
        if existing is not None:
            found = self._remember(existing, account)
            if found.symbol != order.symbol or found.quantity != order.quantity:
                raise TradierDuplicateTagError(f"tag {order.client_order_id} is already used by order {existing.id}")
            return found
        if form is None:  # buy/sell to open or to close: from the position in the contract now
            held = await self._held(account, order.symbol)
            form = options.option_form(order, options.position_effect(order.side, held, order.quantity))
        path = f"/v1/accounts/{quote(account, safe='')}/orders"
        payload = await (await self.client()).send("POST", path, form=form)
        ack = validated(TradierOrderAck, (payload or {}).get("order"), f"POST {path}", placed=True)
        try:
            return (await self.fetch_order(str(ack.id), account))[0]
        except TradierError as exc:  # placed; the details can be read later
            log.info("tradier: order %s placed, not yet readable (%s)", ack.id, type(exc).__name__)
            return OrderSnapshot(broker_order_id=str(ack.id), client_order_id=order.client_order_id,
                                 status=OrderStatus.ACCEPTED, symbol=order.symbol, quantity=order.quantity,
                                 limit_price=order.price, stop_price=order.stop_price)

    async def _by_tag(self, account: str, tag: str) -> TradierOrder | None:
        found = [o for o in await self._orders_of(account) if o.tag == tag]
        if len(found) > 1:
            log.error("tradier: %d orders carry the tag %s; following the first", len(found), tag)
        return found[0] if found else None

    async def get_order_by_client_id(self, client_order_id: str) -> OrderSnapshot | None:
        """The order tagged with the client order id, in any account of the session; None when none is."""
        for account in await self.accounts():
            wire = await self._by_tag(account, client_order_id)
            if wire is not None:
                return self._remember(wire, account)
        return None

    async def submit_group(self, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        """One POST with class otoco, oco or oto (the orders indexed): Tradier holds the legs and couples them.

        The group's tag is looked up first (Tradier does not refuse a repeated tag): a group already placed
        under it is returned, not placed again."""
        groups.check_native(group)  # refuses what Tradier cannot hold before anything is sent
        account = await self._account(group.account_id)
        existing = await self._group_by_tag(account, leg_client_order_id(group.group_id, group.parent_role))
        if existing is not None:
            return self._group_legs(existing, group, account)
        option = group.asset_class is AssetClass.OPTION
        held = await self._held(account, group.symbol) if option else Decimal(0)
        form = groups.group_form(group, groups.leg_sides(group, held))
        path = f"/v1/accounts/{quote(account, safe='')}/orders"
        payload = await (await self.client()).send("POST", path, form=form)
        ack = validated(TradierOrderAck, (payload or {}).get("order"), f"POST {path}", placed=True)
        path = f"{path}/{quote(str(ack.id), safe='')}"
        answer = await (await self.client()).send("GET", path, params={"includeTags": "true"})
        parent = validated(TradierGroupOrder, (answer or {}).get("order"), f"GET {path}")
        return self._group_legs(parent, group, account)

    async def get_group_by_client_id(self, group: OrderGroupRequest) -> dict[LegRole, OrderSnapshot]:
        """The group's orders by role, found by its tag in any account of the session ({} when none has it)."""
        tag = leg_client_order_id(group.group_id, group.parent_role)
        for account in await self.accounts():
            parent = await self._group_by_tag(account, tag)
            if parent is not None:
                return self._group_legs(parent, group, account)
        return {}

    async def _group_by_tag(self, account: str, tag: str) -> TradierGroupOrder | None:
        path, listed = await self._listed(account)
        found = [raw for raw in listed if groups.is_group(raw) and isinstance(raw, dict) and raw.get("tag") == tag]
        return validated(TradierGroupOrder, found[0], f"GET {path}") if found else None

    def _group_legs(self, parent: TradierGroupOrder, group: OrderGroupRequest,
                    account: str) -> dict[LegRole, OrderSnapshot]:
        for leg in self._legs_of(parent):  # each leg is an order of its own: events and fills name it
            self._remember(leg, account)
        return groups.group_legs(parent, group)

    async def _held(self, account: str, symbol: str) -> Decimal:
        """The position in one symbol (negative: short), asked of Tradier now."""
        return sum((parsing.dec(p.quantity) for p in await self._positions(account) if p.symbol == symbol),
                   Decimal(0))

    async def fetch_order(self, broker_order_id: str, account: str | None = None) -> tuple[OrderSnapshot, TradierOrder]:
        """GET one order (in its account, else in each), as a snapshot and as Tradier's order."""
        known = self._orders.get(broker_order_id)
        candidates = [account] if account else [known.account_number] if known else await self.accounts()
        missing: TradierOrderNotFoundError | None = None
        for candidate in candidates:
            path = f"/v1/accounts/{quote(candidate, safe='')}/orders/{quote(broker_order_id, safe='')}"
            try:
                payload = await (await self.client()).send("GET", path, params={"includeTags": "true"})
            except TradierOrderNotFoundError as exc:
                missing = exc
                continue
            wire = validated(TradierOrder, (payload or {}).get("order"), f"GET {path}")
            return self._remember(wire, candidate), wire
        if broker_order_id in self._parents:  # a group's leg that cannot be asked for by its id: in the list
            for candidate in candidates:
                for wire in await self._orders_of(candidate):
                    if str(wire.id) == broker_order_id:
                        return self._remember(wire, candidate), wire
        raise missing or TradierOrderNotFoundError(f"order {broker_order_id}: no account has it", status_code=404)

    async def get_order(self, broker_order_id: str) -> OrderSnapshot:
        return (await self.fetch_order(broker_order_id))[0]

    async def _path_of(self, broker_order_id: str) -> str:
        known = self._orders.get(broker_order_id)
        account = known.account_number if known else None
        if account is None:
            await self.fetch_order(broker_order_id)
            account = self._orders[broker_order_id].account_number
        return f"/v1/accounts/{quote(account, safe='')}/orders/{quote(broker_order_id, safe='')}"

    async def cancel_order(self, broker_order_id: str) -> None:
        """DELETE the order: accepted for processing; the outcome arrives as an event."""
        await (await self.client()).send("DELETE", await self._path_of(broker_order_id))

    async def replace_order(self, broker_order_id: str, amendment: OrderAmendment) -> OrderSnapshot:
        """Modify in place (PUT): new prices, the same order id. Quantity changes are refused before sending."""
        _, current = await self.fetch_order(broker_order_id)
        form = parsing.modify_form(amendment, current)
        path = await self._path_of(broker_order_id)
        try:
            await (await self.client()).send("PUT", path, form=form)
        except (TradierAmbiguousOutcomeError, TradierUnavailableError):
            # The answer was lost: the order's terms say whether the change happened.
            snapshot, now = await self.fetch_order(broker_order_id)
            if parsing.amendment_applied(amendment, now):
                return snapshot
            raise
        return (await self.fetch_order(broker_order_id))[0]

    async def list_open_orders(self) -> list[OrderSnapshot]:
        snapshots: list[OrderSnapshot] = []
        for account in await self.accounts():
            snapshots += [self._remember(o, account) for o in await self._orders_of(account)
                          if o.status in parsing.WORKING_STATUSES]
        return snapshots

    async def _positions(self, account: str) -> list[TradierPosition]:
        path = f"/v1/accounts/{quote(account, safe='')}/positions"
        payload = await (await self.client()).send("GET", path)
        return [validated(TradierPosition, p, f"GET {path}") for p in items(payload, "positions", "position")]

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        account = await self._account(account_number)
        path = f"/v1/accounts/{quote(account, safe='')}/balances"
        asked_at = datetime.now(UTC)  # dated when asked for: a fill booked after this is not in it
        payload = await (await self.client()).send("GET", path)
        wire = validated(TradierBalances, (payload or {}).get("balances"), f"GET {path}")
        held = await self._positions(account)
        snapshot = parsing.broker_account(wire, held, self.connection_id, asked_at)
        return options.with_option_positions(snapshot, held)

    async def get_positions(self, account_number: str | None = None) -> list[Position]:
        """Positions; an option's (its symbol an OCC contract) with the average premium per share."""
        return [options.position_of(p) or parsing.position(p)
                for p in await self._positions(await self._account(account_number))]

    def observe(self, wire: TradierOrder, info: OrderInfo) -> list[ExecutionReport]:
        """The new executions an order object implies (its cumulative figures against the ledger)."""
        at = parsing.ts_or_none(wire.transaction_date) or datetime.now(UTC)
        return self.ledger.observe(info, parsing.dec(wire.exec_quantity), parsing.decimal_or_none(wire.avg_fill_price),
                                   at, last_qty=parsing.decimal_or_none(wire.last_fill_quantity),
                                   last_price=parsing.decimal_or_none(wire.last_fill_price))

    async def executions_since(self, since: datetime) -> list[ExecutionReport]:
        """Executions of the orders changed since `since` (less a margin), derived from cumulative figures."""
        after = since - timedelta(seconds=self.config.gap_margin_seconds)
        reports: list[ExecutionReport] = []
        for account in await self.accounts():
            for wire in await self._orders_of(account):
                changed = parsing.ts_or_none(wire.transaction_date)
                if parsing.dec(wire.exec_quantity) <= 0 or (changed is not None and changed < after):
                    continue
                self._remember(wire, account)
                self.observe(wire, self._orders[str(wire.id)])
                reports += self.ledger.reports(str(wire.id))
        return sorted(reports, key=lambda r: r.executed_at)

    async def fees_since(self, since: datetime) -> list[FeeReport]:
        """None: Tradier reports commissions and fees in the account history only, not per order."""
        return []

    async def latest_price(self, symbol: str) -> Decimal | None:
        """The last trade price from GET /v1/markets/quotes; None for an unknown symbol."""
        try:
            payload = await (await self.client()).send("GET", "/v1/markets/quotes", params={"symbols": symbol})
        except TradierError as exc:
            if is_transient(exc):  # an outage: the caller retries rather than going without a price
                raise
            log.info("tradier: no latest price for %s (%s)", symbol, type(exc).__name__)
            return None
        for quote_ in items(payload, "quotes", "quote"):
            wire = validated(TradierQuote, quote_, "GET /v1/markets/quotes")
            if wire.symbol == symbol:
                return parsing.decimal_or_none(wire.last)
        return None

    async def info_of(self, broker_order_id: str) -> OrderInfo:
        """What an event lacks (tag, symbol, side, quantity, account), read from the order when not known yet."""
        known = self._orders.get(broker_order_id)
        if known is not None:
            return known
        await self.fetch_order(broker_order_id)
        return self._orders[broker_order_id]

    async def open_and_changed(self, working: set[str]) -> list[tuple[TradierOrder, OrderInfo]]:
        """The orders of every account (each with its info), plus working ones the list left out."""
        found: list[tuple[TradierOrder, OrderInfo]] = []
        for account in await self.accounts():
            for wire in await self._orders_of(account):
                self._remember(wire, account)
                found.append((wire, self._orders[str(wire.id)]))
        listed = {str(w.id) for w, _ in found}
        for order_id in sorted(working - listed):
            _, wire = await self.fetch_order(order_id)
            found.append((wire, self._orders[order_id]))
        return found

    async def new_stream_session(self) -> str:
        """POST /v1/accounts/events/session: a session id to connect with within 5 minutes."""
        payload = await (await self.client()).send("POST", "/v1/accounts/events/session")
        stream = (payload or {}).get("stream") if isinstance(payload, dict) else None
        session = stream.get("sessionid") if isinstance(stream, dict) else None
        if not session:
            raise TradierProtocolError("POST /v1/accounts/events/session: no session id")
        return str(session)

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:
        """Order events of every account; what changed while the stream was down is read back."""
        await self.client()
        feed = AccountEventFeed(self, self._ws_connect)
        self._feeds.append(feed)
        try:
            async for event in feed.events():
                yield event
        except _TRANSPORT_ERRORS as exc:
            raise TradierUnavailableError(f"account events: connection failed ({type(exc).__name__})") from None
        finally:
            self._feeds.remove(feed)
            feed.close()

    async def close(self) -> None:
        for feed in list(self._feeds):
            feed.close()
        await self._session.aclose()
