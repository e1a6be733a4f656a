"""Authenticated broker sessions held in the worker process (secrets never leave it)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from temporalio.exceptions import ApplicationError

from domain.broker_integration import (
    BrokerConnection,
    BrokerConnectionManager,
    BrokerConnectionRepository,
    BrokerGateway,
    Clock,
    ConnectionNotReadyError,
    ConnectionStatus,
    GatewayProvider,
    NotFoundError,
)

if TYPE_CHECKING:
    from activities.connection_models import ConnectionHealth

__all__ = ["SessionPool", "StreamProbe", "orders_may_rest", "supervisor_stream_healthy"]

log = logging.getLogger(__name__)

# Whether a connection's trade stream is healthy now (False when unknown).
StreamProbe = Callable[[str], Awaitable[bool]]

# The supervisor's `health` query must answer quickly: a slow or absent answer means "unknown", i.e. poll fast.
_HEALTH_QUERY_TIMEOUT = timedelta(seconds=2)


async def supervisor_stream_healthy(connection_id: str) -> bool:
    """Ask the connection's supervisor (from inside an activity) whether its trade stream is running.

    Healthy only on positive evidence: the supervisor answers, is neither paused nor stopping, the
    connection is CONNECTED, the stream activity is running and has no error. No supervisor, a
    supervisor that does not answer in time, or any error: not healthy (the orders poll as before).
    """
    from temporalio import activity  # the probe runs inside activities only
    from temporalio.service import RPCError

    from activities.connection_models import ConnectionHealth

    try:
        handle = activity.client().get_workflow_handle(f"connection-{connection_id}")
        health = await handle.query("health", result_type=ConnectionHealth, rpc_timeout=_HEALTH_QUERY_TIMEOUT)
    except (RPCError, RuntimeError, TimeoutError) as exc:
        log.debug("stream health of %s unknown: %s", connection_id, exc)
        return False
    except Exception as exc:  # a query failure of any kind is "unknown", never an activity failure
        log.warning("stream health of %s unknown: %s", connection_id, exc)
        return False
    return orders_may_rest(health, datetime.now(UTC))


def orders_may_rest(health: ConnectionHealth, now: datetime) -> bool:
    """Whether the connection's resting orders may leave their following to the connection (poll rarely).

    Yes while the stream runs without error, and also while it is restarting after a failure but reconciled
    the connection lately (every start reconciles first, and the supervisor restarts it within a minute):
    a broker stream outage then costs one reconcile a minute, not a fast poll by every resting order.
    DEGRADED (slow or failing checks of the REST API) counts as in service: more polling would only add
    to the load of a struggling broker while the stream and the reconcile still follow the orders. No when
    the connection is RECONNECTING, FAILED or DISCONNECTED, paused or stopping, or nothing reconciled it for
    three intervals (a stream failing before its reconcile can, e.g. its requests refused too).
    """
    if str(health.status) not in ("CONNECTED", "DEGRADED") or health.paused or health.shutting_down:
        return False
    if health.stream_running and health.stream_error is None:
        return True
    last, every = health.stream.reconciled_at, health.reconcile_seconds
    return last is not None and every is not None and (now - last).total_seconds() <= 3 * max(every, 60.0)


@dataclass
class _Session:
    gateway: BrokerGateway
    connection: BrokerConnection


@dataclass
class SessionPool:
    """One authenticated gateway per connection, re-authenticated when the session lapses.

    `gateway()` reuses a usable stored connection it read for `connection_ttl_seconds` (monotonic clock):
    consecutive activities of an order pay no round trip for it. Rows that refuse calls are not kept, so a
    recovery counts at once. `connection()` always reads.
    """

    connections: BrokerConnectionRepository
    provider: GatewayProvider
    clock: Clock
    breaker_failures: int = 2
    breaker_cooldown_seconds: float = 30.0
    # Stream health of a connection, asked at most once per `stream_health_ttl_seconds` per connection.
    stream_probe: StreamProbe = supervisor_stream_healthy
    stream_health_ttl_seconds: float = 5.0
    connection_ttl_seconds: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    _stream_health: dict[str, tuple[float, bool]] = field(default_factory=dict)
    # The probe in flight per connection: concurrent activities wait for it instead of asking again.
    _stream_asks: dict[str, asyncio.Future[bool]] = field(default_factory=dict)
    # connection id -> (monotonic time its read began, the stored connection), shared read-only by `recent()`.
    _stored: dict[str, tuple[float, BrokerConnection]] = field(default_factory=dict)
    _generations: dict[str, int] = field(default_factory=dict)
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _stale: set[str] = field(default_factory=set)

    async def connection(self, connection_id: str) -> BrokerConnection:
        """The stored connection, read now (callers change and save it), or NotFoundError."""
        found = await self.connections.get(connection_id)
        if found is None:
            raise NotFoundError(f"connection {connection_id!r} is not registered")
        return found

    async def activity_gateway(self, connection_id: str) -> BrokerGateway:
        """`gateway()` for an activity: a missing connection fails for good, one not ready is retried."""
        try:
            return await self.gateway(connection_id)
        except NotFoundError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotFound", non_retryable=True) from exc
        except ConnectionNotReadyError as exc:
            raise ApplicationError(str(exc), type="ConnectionNotReady") from exc

    async def gateway(self, connection_id: str) -> BrokerGateway:
        """An authenticated gateway for the connection (authenticating first when needed).

        The stored connection is read at most `connection_ttl_seconds` before the call, so a supervisor's
        verdict counts within that (at once when it calls `expire()` after saving it): while the breaker
        is open (FAILED after `breaker_failures` failures in a row, less than `breaker_cooldown_seconds`
        ago) the call is refused without touching the broker; after the cool-down one login is tried
        again (half-open). A single failed login does not open it.
        """
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        async with lock:
            stored = await self.recent(connection_id)
            now = self.clock.now()
            if _breaker_open(stored, now, self.breaker_failures, self.breaker_cooldown_seconds):
                raise ConnectionNotReadyError(
                    f"connection {connection_id} is FAILED (circuit open): {stored.status_reason or 'unhealthy'}"
                )
            session = self._sessions.get(connection_id)
            if stored.is_usable(now) and connection_id not in self._stale:
                # Authenticated already (by the supervisor or an earlier call): logging in again would
                # replace the broker session under a running trade stream.
                if session is None:
                    session = _Session(self.provider.gateway_for(stored), stored)
                    self._sessions[connection_id] = session
                session.connection = stored
                return session.gateway
            return await self._authenticate(connection_id)

    async def _authenticate(self, connection_id: str) -> BrokerGateway:
        # Logins inside the worker never start supervisors: that is `connection up`'s (or the caller's) job.
        manager = BrokerConnectionManager(self.connections, gateways=self.provider, clock=self.clock,
                                          supervisor=_UNSUPERVISED)
        ok = await manager.establish_connection(connection_id)
        connection = await self._read(connection_id)  # the login's outcome, for the calls that follow too
        if not ok:
            raise ConnectionNotReadyError(
                f"connection {connection_id} could not authenticate: {connection.status_reason or connection.status}"
            )
        gateway = self.provider.gateway_for(connection)
        self._sessions[connection_id] = _Session(gateway, connection)
        self._stale.discard(connection_id)
        return gateway

    async def recent(self, connection_id: str) -> BrokerConnection:
        """The stored connection as read less than `connection_ttl_seconds` ago, else read now (NotFoundError).

        Shared with later calls: look at it, never change or save it (that is what `connection()` is for).
        """
        cached = self._stored.get(connection_id)
        if cached is not None and self.monotonic() - cached[0] < self.connection_ttl_seconds:
            return cached[1]
        return await self._read(connection_id)

    async def _read(self, connection_id: str) -> BrokerConnection:
        """Read the stored connection; keep it when usable, unless `expire()` ran meanwhile (a save it may predate)."""
        started, generation = self.monotonic(), self._generations.get(connection_id, 0)
        connection = await self.connection(connection_id)
        if connection.is_usable(self.clock.now()) and self._generations.get(connection_id, 0) == generation:
            self._stored[connection_id] = (started, connection)
        else:  # FAILED, logged out, expired: the next call reads again, so a recovery counts at once
            self._stored.pop(connection_id, None)
        return connection

    async def stream_healthy(self, connection_id: str) -> bool:
        """Whether the connection's trade stream is healthy (cached briefly; False when unknown)."""
        now = self.monotonic()
        cached = self._stream_health.get(connection_id)
        if cached is not None and now - cached[0] < self.stream_health_ttl_seconds:
            return cached[1]
        asking = self._stream_asks.get(connection_id)
        if asking is None:
            # One question at a time per connection. When the answer expires under load, every poll running
            # would ask at once: a hundred queries to one supervisor fill its query buffer ("consistent query
            # buffer is full"), each answer is then "unknown", i.e. not healthy, and every resting order
            # speeds its polling up: more load, more failed questions (the 5,000-order bench, issue 10).
            asking = asyncio.ensure_future(self._ask_stream(connection_id))
            self._stream_asks[connection_id] = asking
        return await asyncio.shield(asking)  # a cancelled activity does not cancel the others' answer

    async def _ask_stream(self, connection_id: str) -> bool:
        try:
            healthy = await self.stream_probe(connection_id)
            self._stream_health[connection_id] = (self.monotonic(), healthy)
            return healthy
        finally:
            self._stream_asks.pop(connection_id, None)

    def expire(self, connection_id: str) -> None:
        """Forget the stored connection read last, so the next call reads it (after saving a new verdict)."""
        self._stored.pop(connection_id, None)
        self._generations[connection_id] = self._generations.get(connection_id, 0) + 1

    def invalidate(self, connection_id: str) -> None:
        """Forget the session and the stored connection, so the next call reads and authenticates again (a 401)."""
        self._sessions.pop(connection_id, None)
        self._stale.add(connection_id)
        self.expire(connection_id)

    async def close(self) -> None:
        """Close every gateway."""
        for session in self._sessions.values():
            await session.gateway.close()
        self._sessions.clear()


class _Unsupervised:
    async def ensure_supervised(self, connection_id: str) -> None:
        return None


_UNSUPERVISED = _Unsupervised()


def _breaker_open(connection: BrokerConnection, now: datetime, failures: int, cooldown_seconds: float) -> bool:
    """FAILED recently after repeated failures: the supervisor (or the logins) found the broker unusable."""
    if connection.status is not ConnectionStatus.FAILED or not connection.history:
        return False
    if connection.consecutive_failures < failures:
        return False
    return now - connection.history[-1].at < timedelta(seconds=cooldown_seconds)
