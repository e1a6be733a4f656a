"""The connection supervisor's state, carried across continue-as-new, and its pure decisions."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from activities.connection_models import (
    CheckResult,
    ConnectionHealth,
    HealthMetrics,
    StreamPosition,
    SupervisorConfig,
)
from domain.broker_integration import ConnectionStatus

__all__ = [
    "ALERT_DEGRADED",
    "ALERT_FAILED",
    "ALERT_REFRESH",
    "ALERT_STREAM",
    "SupervisorInput",
    "SupervisorState",
    "accrue",
    "assess",
    "backoff_seconds",
    "desired_alerts",
    "details_of",
    "error_rate",
    "health_of",
    "next_wake",
    "note_check",
]

C = ConnectionStatus
ALERT_DEGRADED = "connection_degraded"
ALERT_FAILED = "connection_failed"
ALERT_REFRESH = "token_refresh_failed"
ALERT_STREAM = "trade_stream_down"
MAX_HANDLED_UPDATES = 100


class SupervisorState(BaseModel):
    """Everything the supervisor knows; small enough to carry into a new run."""

    connection_id: str
    status: ConnectionStatus = C.DISCONNECTED
    reason: str | None = None
    status_since: datetime | None = None
    accrued_at: datetime | None = None
    paused: bool = False
    shutdown_reason: str | None = None
    authenticated: bool = False
    ever_connected: bool = False
    auth_method: str | None = None
    token_expires_at: datetime | None = None
    next_refresh_at: datetime | None = None
    refresh_failed: str | None = None
    needs_keepalive: bool = False
    last_keepalive_at: datetime | None = None
    window: list[bool] = Field(default_factory=list)
    last_check_at: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    reconnect_attempts: int = 0
    next_reconnect_at: datetime | None = None
    open_alerts: list[str] = Field(default_factory=list)
    stream: StreamPosition = Field(default_factory=StreamPosition)
    stream_error: str | None = None
    stream_failures: int = 0
    next_stream_at: datetime | None = None
    metrics: HealthMetrics = Field(default_factory=HealthMetrics)
    handled_updates: list[str] = Field(default_factory=list)
    fee_sweep_since: datetime | None = None
    next_fee_sweep_at: datetime | None = None
    next_account_sync_at: datetime | None = None
    accounts: list[str] = Field(default_factory=list)
    account_drifts: int = 0
    fees_swept: int = 0
    runs: int = 1
    iterations: int = 0

    def handled(self, update_id: str) -> bool:
        """Whether an update with this id ran already (deduplication survives continue-as-new)."""
        if update_id in self.handled_updates:
            return True
        self.handled_updates.append(update_id)
        del self.handled_updates[:-MAX_HANDLED_UPDATES]
        return False


class SupervisorInput(BaseModel):
    """The workflow's one argument: which connection, how to watch it, and the state of the last run."""

    connection_id: str
    config: SupervisorConfig = Field(default_factory=SupervisorConfig)
    state: SupervisorState | None = None


def backoff_seconds(attempt: int, config: SupervisorConfig, rnd: float) -> float:
    """Capped exponential backoff with jitter; `rnd` in [0, 1) comes from workflow.random()."""
    base = min(config.reconnect_initial_seconds * 2 ** max(attempt - 1, 0), config.reconnect_max_seconds)
    return float(base * (1 - config.reconnect_jitter * rnd))


def note_check(state: SupervisorState, result: CheckResult, config: SupervisorConfig, at: datetime) -> None:
    """Fold one check into the window, the failure count and the metrics."""
    metrics = state.metrics
    metrics.checks += 1
    state.last_check_at = at
    state.window = [*state.window, result.ok][-config.error_window:]
    if result.ok:
        state.consecutive_failures = 0
        latency = result.latency_ms or 0.0
        metrics.last_latency_ms = latency
        metrics.max_latency_ms = max(metrics.max_latency_ms or 0.0, latency)
        metrics.latency_total_ms += latency
        return
    metrics.failures += 1
    state.consecutive_failures += 1
    state.last_error = result.error


def error_rate(state: SupervisorState) -> float:
    """Failed share of the checks in the window."""
    return 0.0 if not state.window else state.window.count(False) / len(state.window)


def assess(state: SupervisorState, config: SupervisorConfig) -> tuple[ConnectionStatus, str | None]:
    """The status the checks, the stream and the token call for, with the reason."""
    if state.consecutive_failures >= config.fail_after:
        return C.FAILED, f"{state.consecutive_failures} health checks failed in a row: {state.last_error}"
    problems: list[str] = []
    if state.window and not state.window[-1]:
        problems.append(f"health check failed: {state.last_error}")
    elif error_rate(state) > config.degraded_error_rate:
        problems.append(f"error rate {error_rate(state):.0%} over the last {len(state.window)} checks")
    latency = state.metrics.last_latency_ms
    if state.window and state.window[-1] and latency is not None and latency > config.degraded_latency_ms:
        problems.append(f"slow: {latency:.0f} ms")
    if state.stream_error:
        problems.append(f"trade stream down: {state.stream_error}")
    if state.refresh_failed:
        problems.append(state.refresh_failed)
    return (C.DEGRADED, "; ".join(problems)) if problems else (C.CONNECTED, None)


def accrue(state: SupervisorState, at: datetime) -> None:
    """Add the time since the last accrual to the degraded or failed total."""
    if state.accrued_at is not None and at > state.accrued_at:
        seconds = (at - state.accrued_at).total_seconds()
        if state.status in (C.DEGRADED, C.RECONNECTING):
            state.metrics.degraded_seconds += seconds
        elif state.status is C.FAILED:
            state.metrics.failed_seconds += seconds
    state.accrued_at = at


def desired_alerts(state: SupervisorState) -> dict[str, tuple[str, str]]:
    """The alerts that should be open now: kind -> (severity, message)."""
    wanted: dict[str, tuple[str, str]] = {}
    reason = state.reason or str(state.status)
    if state.status in (C.DEGRADED, C.RECONNECTING, C.FAILED):
        wanted[ALERT_DEGRADED] = ("warning", f"{state.connection_id} {state.status}: {reason}")
    if state.status is C.FAILED:
        wanted[ALERT_FAILED] = ("critical", f"{state.connection_id} FAILED, orders stopped: {reason}")
    if state.refresh_failed:
        wanted[ALERT_REFRESH] = ("warning", f"{state.connection_id}: {state.refresh_failed}")
    if state.stream_error:
        wanted[ALERT_STREAM] = ("warning", f"{state.connection_id} trade stream down: {state.stream_error}")
    return wanted


def next_wake(state: SupervisorState, config: SupervisorConfig, now: datetime) -> datetime:
    """When the supervisor has something to do next."""
    times = [now + timedelta(seconds=config.health_interval_seconds)]
    times += [t for t in (state.next_reconnect_at, state.next_refresh_at, state.next_stream_at) if t is not None]
    if state.needs_keepalive and state.last_keepalive_at is not None:
        times.append(state.last_keepalive_at + timedelta(seconds=config.keepalive_interval_seconds))
    return max(min(times), now)


def health_of(state: SupervisorState, stream_running: bool, reconcile_seconds: float | None = None
              ) -> ConnectionHealth:
    """What the `health` query answers."""
    return ConnectionHealth(
        connection_id=state.connection_id, status=state.status, reason=state.reason, paused=state.paused,
        shutting_down=state.shutdown_reason is not None, status_since=state.status_since,
        last_check_at=state.last_check_at, error_rate=error_rate(state),
        consecutive_failures=state.consecutive_failures, token_expires_at=state.token_expires_at,
        next_reconnect_at=state.next_reconnect_at, stream_running=stream_running, stream_error=state.stream_error,
        stream=state.stream, reconcile_seconds=reconcile_seconds, open_alerts=sorted(state.open_alerts),
        metrics=state.metrics, runs=state.runs,
    )


def details_of(state: SupervisorState, stream_running: bool) -> str:
    """The Markdown shown in the Web UI."""
    m = state.metrics
    latency = "-" if m.last_latency_ms is None else f"{m.last_latency_ms:.0f} ms"
    paused = " (paused)" if state.paused else ""
    reason = f"\n\nreason: {state.reason}" if state.reason else ""
    stream = "running" if stream_running else f"stopped ({state.stream_error or 'idle'})"
    return (
        f"**{state.status}**{paused} · latency {latency} · error rate {error_rate(state):.0%}  \n"
        f"checks {m.checks} · failures {m.failures} · reconnects {m.reconnects} · "
        f"degraded {m.degraded_seconds:.0f}s · failed {m.failed_seconds:.0f}s  \n"
        f"stream {stream}: {state.stream.forwarded} events forwarded, {state.stream.reconciled} reconciled · "
        f"run {state.runs}{reason}"
    )
