"""SessionPool reuses the stored connection for a short TTL; the breaker's verdicts still count (issue 10)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from activities.sessions import SessionPool
from domain.broker_integration import (
    BrokerConnection,
    ConnectionCredentials,
    ConnectionNotReadyError,
    ConnectionStatus,
    NotFoundError,
    SessionInfo,
)
from tests.unit.domain.fakes import FakeClock, FakeConnections, FakeGateway, FakeProvider


class CountingConnections(FakeConnections):
    """The in-memory repository, counting reads; `hold` parks the next read until it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.hold: asyncio.Event | None = None

    async def get(self, connection_id: str) -> BrokerConnection | None:
        self.reads += 1
        found = await super().get(connection_id)
        if self.hold is not None:
            hold, self.hold = self.hold, None
            await hold.wait()
        return found


class CountingGateway(FakeGateway):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.logins = 0

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        self.logins += 1
        return await super().authenticate(credentials)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Pool:
    pool: SessionPool
    repo: CountingConnections
    gateway: CountingGateway
    ticks: Ticks
    clock: FakeClock

    async def supervisor_trips(self) -> None:
        """What the supervisor stores after repeated failed checks: FAILED, the breaker open."""
        connection = await self.repo.get("conn-1")
        assert connection is not None
        for _ in range(3):
            connection.record_failure(self.clock.now(), "health checks failed", max_failures=3)
        assert connection.status is ConnectionStatus.FAILED
        await self.repo.save(connection)


async def make_pool(ttl: float = 1.0, key: str = "good", authenticated: bool = True) -> Pool:
    clock, repo, ticks = FakeClock(), CountingConnections(), Ticks()
    gateway = CountingGateway(clock)
    connection = BrokerConnection(connection_id="conn-1", broker="fake")
    if authenticated:  # by the supervisor
        connection.begin_connect(clock.now())
        connection.authenticated(clock.now(), None)
    await repo.save(connection)
    await repo.save_credentials("conn-1", ConnectionCredentials(api_key=key))
    pool = SessionPool(repo, FakeProvider(gateway), clock, connection_ttl_seconds=ttl, monotonic=ticks)
    return Pool(pool, repo, gateway, ticks, clock)


async def test_consecutive_calls_within_the_ttl_read_the_connection_once() -> None:
    p = await make_pool()
    for _ in range(5):
        assert await p.pool.gateway("conn-1") is p.gateway
        p.ticks.now += 0.15
    assert p.repo.reads == 1 and p.gateway.logins == 0  # authenticated by the supervisor already
    p.ticks.now += 0.5  # 1.25 s after the first read
    await p.pool.gateway("conn-1")
    assert p.repo.reads == 2


async def test_a_failed_verdict_counts_once_the_ttl_has_passed() -> None:
    p = await make_pool()
    await p.pool.gateway("conn-1")
    await p.supervisor_trips()
    p.ticks.now += 0.5
    await p.pool.gateway("conn-1")  # within the TTL: the tolerated second of delay
    p.ticks.now += 0.5
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")
    assert p.gateway.logins == 0  # refused without touching the broker


async def test_expire_makes_a_stored_verdict_count_at_once() -> None:
    p = await make_pool()
    await p.pool.gateway("conn-1")
    await p.supervisor_trips()
    p.pool.expire("conn-1")
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")
    assert p.repo.reads == 3  # first call, the supervisor's own read, the call after expire()


async def test_a_read_begun_before_expire_is_not_kept() -> None:
    p = await make_pool()
    p.repo.hold = hold = asyncio.Event()
    call = asyncio.create_task(p.pool.gateway("conn-1"))
    await asyncio.sleep(0)  # the read has begun, with the row as it was before the supervisor's save
    assert p.repo.hold is None
    await p.supervisor_trips()
    p.pool.expire("conn-1")
    hold.set()
    await call  # this call saw the older row: it predates the verdict
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")  # but the next one reads again


async def test_invalidate_reads_the_connection_again_and_logs_in() -> None:
    p = await make_pool()
    await p.pool.gateway("conn-1")
    reads = p.repo.reads
    p.pool.invalidate("conn-1")  # a 401 from the broker
    await p.pool.gateway("conn-1")
    assert p.gateway.logins == 1 and p.repo.reads > reads
    reads = p.repo.reads
    await p.pool.gateway("conn-1")  # the login's outcome is kept: no read, no login
    assert (p.repo.reads, p.gateway.logins) == (reads, 1)


async def test_a_successful_login_is_kept_for_the_calls_that_follow() -> None:
    p = await make_pool(authenticated=False)
    await p.pool.gateway("conn-1")  # not authenticated yet: read, not kept, log in, keep the outcome
    reads = p.repo.reads
    await p.pool.gateway("conn-1")
    assert (p.repo.reads, p.gateway.logins) == (reads, 1)


async def test_after_invalidate_a_stored_verdict_counts_before_any_login() -> None:
    p = await make_pool()
    await p.pool.gateway("conn-1")
    await p.supervisor_trips()
    p.pool.invalidate("conn-1")  # a 401 while the broker goes down
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")
    assert p.gateway.logins == 0


async def test_failed_logins_open_the_breaker_and_are_not_kept() -> None:
    p = await make_pool(key="bad", authenticated=False)
    for _ in range(2):  # two failed logins in a row open the breaker
        with pytest.raises(ConnectionNotReadyError, match="could not authenticate"):
            await p.pool.gateway("conn-1")
    stored = await p.pool.connection("conn-1")
    assert stored.status is ConnectionStatus.FAILED and stored.consecutive_failures == 2
    reads, logins = p.repo.reads, p.gateway.logins
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")
    assert (p.repo.reads, p.gateway.logins) == (reads + 1, logins)  # read again, the broker left alone


async def test_a_recovery_counts_at_once_after_a_refused_call() -> None:
    p = await make_pool()
    await p.supervisor_trips()
    with pytest.raises(ConnectionNotReadyError, match="circuit open"):
        await p.pool.gateway("conn-1")
    stored = await p.repo.get("conn-1")
    assert stored is not None
    stored.begin_connect(p.clock.now())
    stored.authenticated(p.clock.now(), None)  # the supervisor reconnected
    await p.repo.save(stored)
    assert await p.pool.gateway("conn-1") is p.gateway  # no TTL to wait out: refusing rows are not kept
    assert p.gateway.logins == 0


async def test_connection_always_reads_and_a_zero_ttl_reads_every_call() -> None:
    p = await make_pool(ttl=0.0)
    for _ in range(3):
        await p.pool.gateway("conn-1")
        await p.pool.connection("conn-1")
    assert p.repo.reads == 6


async def test_an_unknown_connection_is_not_remembered() -> None:
    p = await make_pool()
    with pytest.raises(NotFoundError):
        await p.pool.gateway("conn-2")
    await p.repo.save(BrokerConnection(connection_id="conn-2", broker="fake"))
    await p.repo.save_credentials("conn-2", ConnectionCredentials(api_key="good"))
    assert await p.pool.gateway("conn-2") is p.gateway  # registered since: found at once


async def test_recent_shares_the_row_gateway_read() -> None:
    p = await make_pool()
    await p.pool.gateway("conn-1")
    recent = await p.pool.recent("conn-1")
    assert recent.status is ConnectionStatus.CONNECTED and p.repo.reads == 1


async def test_concurrent_polls_ask_the_supervisor_about_the_stream_once() -> None:
    """A hundred polls whose cached answer just expired ask one question, not a hundred (a supervisor's query
    buffer overflows, every answer is then "unknown" and every resting order speeds its polling up)."""
    setup = await make_pool()
    asked: list[str] = []
    answer = asyncio.Event()

    async def probe(connection_id: str) -> bool:
        asked.append(connection_id)
        await answer.wait()
        return True

    setup.pool.stream_probe = probe
    waiting = [asyncio.create_task(setup.pool.stream_healthy("conn-1")) for _ in range(100)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # one poll gives up: the others still get the answer
    answer.set()
    results = await asyncio.gather(*waiting[1:])
    assert asked == ["conn-1"] and all(results)
    assert await setup.pool.stream_healthy("conn-1") and asked == ["conn-1"]  # cached
    setup.ticks.now += setup.pool.stream_health_ttl_seconds
    assert await setup.pool.stream_healthy("conn-1") and asked == ["conn-1", "conn-1"]  # expired: asked again
