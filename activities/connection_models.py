"""Inputs and outputs of the connection supervisor and its activities: one model per call, no secrets."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from domain.broker_integration import ConnectionStatus

__all__ = [
    "AccountSyncInput",
    "AccountSyncResult",
    "AlertInput",
    "CheckInput",
    "CheckResult",
    "ConnectInput",
    "ConnectResult",
    "ConnectionHealth",
    "HealthMetrics",
    "KeepAliveInput",
    "KeepAliveResult",
    "PauseRequest",
    "ReconnectRequest",
    "RecordStatusInput",
    "RecordStatusResult",
    "RefreshInput",
    "RefreshResult",
    "ResumeRequest",
    "ShutdownRequest",
    "StreamInput",
    "StreamPosition",
    "SupervisorConfig",
]

RECENT_IDS = 500
WORKING_ORDERS = 2000


class SupervisorConfig(BaseModel):
    """How the supervisor watches a connection; tests shrink the intervals."""

    health_interval_seconds: float = Field(default=15.0, gt=0)
    check_timeout_seconds: float = Field(default=10.0, gt=0)
    error_window: int = Field(default=20, ge=1, description="Checks the error rate is measured over")
    degraded_error_rate: float = Field(default=0.2, ge=0, le=1)
    degraded_latency_ms: float = Field(default=2000.0, gt=0)
    fail_after: int = Field(default=5, ge=2, description="Consecutive failures that open the breaker (FAILED)")
    reconnect_initial_seconds: float = Field(default=1.0, gt=0)
    reconnect_max_seconds: float = Field(default=60.0, gt=0)
    reconnect_jitter: float = Field(default=0.2, ge=0, le=1)
    refresh_before_seconds: float = Field(default=120.0, ge=0, description="Refresh OAuth tokens this early")
    keepalive_interval_seconds: float = Field(default=60.0, gt=0)
    stream_enabled: bool = True
    stream_heartbeat_seconds: float = Field(default=30.0, gt=0)
    position_signal_seconds: float = Field(default=5.0, gt=0)
    reconcile_margin_seconds: float = Field(default=30.0, ge=0)
    reconcile_seconds: float = Field(
        default=60.0, gt=0,
        description="While the stream runs, its orders and fills are reconciled with the broker's this often "
                    "(one pass for the whole connection, instead of a safety poll per order)")
    max_iterations: int | None = Field(default=None, ge=1, description="Continue as new after this many cycles")
    fee_sweep_seconds: float = Field(default=300.0, gt=0, description="How often fees of closed orders are swept")
    fee_lookback_hours: float = Field(default=36.0, gt=0, description="First sweep: fees this far back")
    account_sync_seconds: float = Field(default=60.0, gt=0, description="How often balances are synchronised")


class AccountSyncInput(BaseModel):
    """Synchronise the balances and positions of every account of a connection."""

    connection_id: str


class AccountSyncResult(BaseModel):
    """Accounts synchronised (our ids) and the drifts found (masked, no account numbers)."""

    accounts: list[str] = Field(default_factory=list)
    drifts: list[str] = Field(default_factory=list)


class FeeSweepInput(BaseModel):
    """Sweep fees charged after their orders' workflows finished (e.g. regulatory fees posted at day end)."""

    connection_id: str
    since: datetime | None = None
    lookback_hours: float = 36.0


class FeeSweepResult(BaseModel):
    recorded: int = 0
    next_since: datetime | None = None


class StreamPosition(BaseModel):
    """Where the trade-updates stream is: carried in heartbeats, signals and across continue-as-new."""

    last_event_at: datetime | None = None
    reconciled_at: datetime | None = Field(
        default=None, description="When the last reconcile began, by our clock: the next pass is due from it")
    recent_execution_ids: list[str] = Field(default_factory=list)
    working_orders: dict[str, str] = Field(default_factory=dict, description="broker order id -> client id")
    forwarded: int = 0
    ignored: int = 0
    reconciled: int = 0
    resumes: int = 0
    revision: int = 0

    def seen(self, execution_id: str) -> bool:
        """Whether this execution was forwarded already."""
        return execution_id in self.recent_execution_ids

    def remember(self, execution_id: str) -> None:
        """Note a forwarded execution (the oldest forgotten past RECENT_IDS)."""
        self.recent_execution_ids.append(execution_id)
        del self.recent_execution_ids[:-RECENT_IDS]

    def track(self, broker_order_id: str, client_order_id: str, open_: bool) -> None:
        """Follow an order while it is open at the broker."""
        if not open_:
            self.working_orders.pop(broker_order_id, None)
            return
        self.working_orders[broker_order_id] = client_order_id
        while len(self.working_orders) > WORKING_ORDERS:
            self.working_orders.pop(next(iter(self.working_orders)))


class ConnectInput(BaseModel):
    connection_id: str
    max_failures: int = 5
    refresh_before_seconds: float = 120.0


class ConnectResult(BaseModel):
    ok: bool
    status: ConnectionStatus
    reason: str | None = None
    auth_error: bool = False
    auth_method: str | None = None
    expires_at: datetime | None = None
    needs_keepalive: bool = False
    refreshed: bool = False


class CheckInput(BaseModel):
    connection_id: str


class CheckResult(BaseModel):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    auth_error: bool = False


class RefreshInput(BaseModel):
    connection_id: str


class RefreshResult(BaseModel):
    ok: bool
    expires_at: datetime | None = None
    reason: str | None = None


class KeepAliveInput(BaseModel):
    connection_id: str


class KeepAliveResult(BaseModel):
    ok: bool
    reason: str | None = None
    expires_at: datetime | None = None


class HealthMetrics(BaseModel):
    """Running totals for reporting (also written with each health sample)."""

    checks: int = 0
    failures: int = 0
    reconnects: int = 0
    refreshes: int = 0
    refresh_failures: int = 0
    keepalives: int = 0
    stream_restarts: int = 0
    degraded_seconds: float = 0.0
    failed_seconds: float = 0.0
    last_latency_ms: float | None = None
    max_latency_ms: float | None = None
    latency_total_ms: float = 0.0

    @property
    def avg_latency_ms(self) -> float | None:
        """Mean latency of the successful checks."""
        ok = self.checks - self.failures
        return None if ok <= 0 else self.latency_total_ms / ok


class RecordStatusInput(BaseModel):
    """The supervisor's verdict, applied to the connection entity; with the check's sample when there was one."""

    connection_id: str
    status: ConnectionStatus
    reason: str | None = None
    at: datetime
    check: CheckResult | None = None
    metrics: HealthMetrics | None = None


class RecordStatusResult(BaseModel):
    status: ConnectionStatus
    reason: str | None = None


class AlertInput(BaseModel):
    connection_id: str
    kind: str
    raised: bool = Field(description="True raises (once), False clears")
    severity: str = "warning"
    message: str = ""


class StreamInput(BaseModel):
    connection_id: str
    position: StreamPosition = Field(default_factory=StreamPosition)
    heartbeat_seconds: float = 5.0
    position_signal_seconds: float = 5.0
    reconcile_margin_seconds: float = 30.0
    reconcile_every_seconds: float | None = Field(
        default=None, gt=0, description="Reconcile this often while running (None: only when resuming)")


class PauseRequest(BaseModel):
    reason: str | None = None


class ResumeRequest(BaseModel):
    reason: str | None = None


class ReconnectRequest(BaseModel):
    reason: str | None = None


class ShutdownRequest(BaseModel):
    reason: str | None = None


class ConnectionHealth(BaseModel):
    """What the `health` query answers."""

    connection_id: str
    status: ConnectionStatus
    reason: str | None = None
    paused: bool = False
    shutting_down: bool = False
    status_since: datetime | None = None
    last_check_at: datetime | None = None
    error_rate: float = 0.0
    consecutive_failures: int = 0
    token_expires_at: datetime | None = None
    next_reconnect_at: datetime | None = None
    stream_running: bool = False
    stream_error: str | None = None
    stream: StreamPosition = Field(default_factory=StreamPosition)
    reconcile_seconds: float | None = Field(default=None, description="How often the stream reconciles")
    open_alerts: list[str] = Field(default_factory=list)
    metrics: HealthMetrics = Field(default_factory=HealthMetrics)
    runs: int = 1
