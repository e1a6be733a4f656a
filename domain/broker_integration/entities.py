"""Entities: BrokerConnection (session and health) and BrokerAccount (balances, positions, margin).

The Order aggregate lives in order.py and is re-exported here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from .enums import AccountType, AssetClass, AuthMethod, ConnectionStatus, Environment
from .errors import ConnectionNotReadyError
from .order import Order
from .value_objects import utc

__all__ = [
    "BrokerAccount",
    "BrokerConnection",
    "ConnectionEvent",
    "GoodFaithViolation",
    "Order",
    "Position",
    "Settlement",
    "UnsettledPurchase",
]

C = ConnectionStatus
_ALLOWED: dict[ConnectionStatus, frozenset[ConnectionStatus]] = {
    C.DISCONNECTED: frozenset({C.CONNECTING}),
    C.CONNECTING: frozenset({C.CONNECTED, C.FAILED, C.DISCONNECTED, C.RECONNECTING}),
    C.CONNECTED: frozenset({C.DEGRADED, C.RECONNECTING, C.FAILED, C.DISCONNECTED, C.CONNECTED}),
    C.DEGRADED: frozenset({C.CONNECTED, C.RECONNECTING, C.FAILED, C.DISCONNECTED, C.DEGRADED}),
    C.RECONNECTING: frozenset({C.CONNECTED, C.FAILED, C.DISCONNECTED, C.RECONNECTING, C.DEGRADED}),
    C.FAILED: frozenset({C.RECONNECTING, C.CONNECTING, C.DISCONNECTED}),
}


class ConnectionEvent(BaseModel):
    """One status change of a connection, with its reason."""

    status: ConnectionStatus
    at: datetime
    reason: str | None = None


class BrokerConnection(BaseModel):
    """A connection to one broker: authentication state, session expiry and health."""

    connection_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    broker: str = Field(min_length=1)
    environment: Environment = Environment.PAPER
    auth_method: AuthMethod = AuthMethod.API_KEY
    base_url: str | None = None
    status: ConnectionStatus = C.DISCONNECTED
    status_reason: str | None = None
    session_expires_at: datetime | None = None
    authenticated_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    consecutive_failures: int = 0
    total_failures: int = 0
    history: list[ConnectionEvent] = Field(default_factory=list)

    def _move(self, target: ConnectionStatus, at: datetime, reason: str | None = None) -> None:
        if target not in _ALLOWED[self.status]:
            raise ConnectionNotReadyError(
                f"connection {self.connection_id}: cannot go {self.status} -> {target}"
            )
        self.status = target
        self.status_reason = reason
        self.history.append(ConnectionEvent(status=target, at=utc(at), reason=reason))

    def begin_connect(self, at: datetime) -> None:
        """Start authenticating."""
        self._move(C.CONNECTING if self.status in (C.DISCONNECTED, C.FAILED) else C.RECONNECTING, at)

    def authenticated(self, at: datetime, expires_at: datetime | None) -> None:
        """Authentication succeeded; the session is usable until `expires_at` (None: no expiry)."""
        self.authenticated_at = utc(at)
        self.session_expires_at = None if expires_at is None else utc(expires_at)
        self.last_heartbeat_at = self.authenticated_at
        self.consecutive_failures = 0
        self._move(C.CONNECTED, at)

    def record_failure(self, at: datetime, reason: str, max_failures: int = 5) -> None:
        """A failed call or check: DEGRADED at first, FAILED after `max_failures` in a row."""
        self.consecutive_failures += 1
        self.total_failures += 1
        if self.status is C.DISCONNECTED:
            return
        if self.status is C.CONNECTING:
            self._move(C.FAILED, at, reason)
            return
        target = C.FAILED if self.consecutive_failures >= max_failures else C.DEGRADED
        if self.status is C.RECONNECTING and target is C.DEGRADED:
            target = C.RECONNECTING
        self._move(target, at, reason)

    def heartbeat(self, at: datetime) -> None:
        """A successful health check: failures reset, DEGRADED recovers to CONNECTED."""
        self.last_heartbeat_at = utc(at)
        self.consecutive_failures = 0
        if self.status in (C.DEGRADED, C.RECONNECTING):
            self._move(C.CONNECTED, at, "recovered")

    def degrade(self, at: datetime, reason: str) -> None:
        """Usable but unhealthy (slow, erroring, stream down); the same reason again records nothing."""
        if self.status is C.DEGRADED and self.status_reason == reason:
            return
        self._move(C.DEGRADED, at, reason)

    def trip(self, at: datetime, reason: str) -> None:
        """Open the circuit breaker: FAILED, so no order uses the connection until it reconnects."""
        if self.status is C.FAILED:
            return
        self._move(C.FAILED, at, reason)

    def disconnect(self, at: datetime, reason: str | None = None) -> None:
        """Close the session."""
        self.session_expires_at = None
        self._move(C.DISCONNECTED, at, reason)

    def is_usable(self, at: datetime) -> bool:
        """Rule 1: authenticated, not failed, and the session has not expired."""
        if self.status not in (C.CONNECTED, C.DEGRADED) or self.authenticated_at is None:
            return False
        return self.session_expires_at is None or utc(at) < self.session_expires_at

    def ensure_usable(self, at: datetime) -> None:
        """Raise ConnectionNotReadyError unless the connection may be used now."""
        if not self.is_usable(at):
            expired = self.session_expires_at is not None and utc(at) >= self.session_expires_at
            why = "session expired" if expired else f"status {self.status}"
            raise ConnectionNotReadyError(f"connection {self.connection_id} is not authenticated ({why})")


class Position(BaseModel):
    """A holding in one symbol of one asset class; negative quantity is short. Average-cost accounting."""

    symbol: str
    quantity: Decimal
    asset_class: AssetClass = AssetClass.EQUITY
    avg_entry_price: Decimal = Decimal("0")
    market_value: Decimal = Decimal("0")
    last_price: Decimal | None = None
    realized_pnl: Decimal = Decimal("0")
    unrealized_pnl: Decimal = Decimal("0")

    @property
    def cost_basis(self) -> Decimal:
        """What the open quantity cost (signed like the quantity)."""
        return self.quantity * self.avg_entry_price


class Settlement(BaseModel):
    """Sale proceeds that become settled cash on `settles_on` (T+1 for US equities)."""

    amount: Decimal
    settles_on: date
    symbol: str | None = None


class UnsettledPurchase(BaseModel):
    """Shares bought with unsettled funds: selling them before `funds_settle_on` is a good-faith violation."""

    symbol: str
    quantity: Decimal
    funds_settle_on: date


class GoodFaithViolation(BaseModel):
    """A security bought with unsettled funds and sold before those funds settled (cash accounts)."""

    symbol: str
    trade_date: date
    quantity: Decimal
    funds_settle_on: date


class BrokerAccount(BaseModel):
    """A trading account behind a connection: balances, positions, margin figures and the local ledger.

    `cash`, `equity`, `buying_power`, `initial_margin`, `maintenance_margin` are the broker's latest figures
    (updated locally after each fill until the next synchronisation); `pending_settlements`, `day_trades`,
    `opened_today` and `unsettled_purchases` are our own bookkeeping, which the broker does not report.
    """

    account_id: str = Field(min_length=1)
    connection_id: str = Field(min_length=1)
    account_number: str = Field(min_length=1)
    account_type: AccountType = AccountType.CASH
    currency: str = "USD"
    cash: Decimal = Decimal("0")
    settled_cash: Decimal = Decimal("0")
    equity: Decimal = Decimal("0")
    buying_power: Decimal = Decimal("0")
    initial_margin: Decimal = Decimal("0")
    maintenance_margin: Decimal = Decimal("0")
    last_equity: Decimal = Decimal("0")
    last_maintenance_margin: Decimal = Decimal("0")
    pattern_day_trader: bool = False
    day_trade_count: int = 0
    shorting_enabled: bool = False
    allow_unsettled_funds: bool = False
    realized_pnl: Decimal = Decimal("0")
    # The broker's margin terms where it sets them itself (forex; crypto where it lends): the fraction of the
    # notional an order posts, by symbol or by asset class ("FOREX"), and its margin available, when reported.
    margin_rates: dict[str, Decimal] = Field(default_factory=dict)
    margin_available: Decimal | None = None
    positions: dict[str, Position] = Field(default_factory=dict)
    pending_settlements: list[Settlement] = Field(default_factory=list)
    unsettled_purchases: list[UnsettledPurchase] = Field(default_factory=list)
    good_faith_violations: list[GoodFaithViolation] = Field(default_factory=list)
    day_trades: list[date] = Field(default_factory=list)
    opened_today: dict[str, Decimal] = Field(default_factory=dict)
    day_trade_orders: list[str] = Field(default_factory=list)  # orders that made today's day trades
    trade_date: date | None = None
    booked_at: datetime | None = None  # when we last booked a fill or fee locally
    updated_at: datetime | None = None

    def position_quantity(self, symbol: str) -> Decimal:
        """Held quantity of a symbol (0 when none)."""
        position = self.positions.get(symbol)
        return Decimal("0") if position is None else position.quantity

    @property
    def masked_number(self) -> str:
        """The account number with all but the last four characters hidden."""
        return "*" * max(len(self.account_number) - 4, 0) + self.account_number[-4:]
