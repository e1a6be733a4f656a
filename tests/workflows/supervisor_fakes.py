"""Fakes for the supervisor's workflow tests: a broker with a scriptable stream and health, auth plugins,
and a stand-in order workflow that collects the trade events forwarded to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import SecretStr
from temporalio import workflow

from domain.broker_integration import (
    BrokerAccount,
    BrokerAuthenticationError,
    BrokerConnection,
    BrokerGateway,
    BrokerUnavailableError,
    ConnectionCredentials,
    ExecutionReport,
    OrderSnapshot,
    OrderStatus,
    SessionInfo,
    TradeEvent,
    TradeEventKind,
)

from .fake_broker import FakeBroker


class StreamBroker(FakeBroker):
    """FakeBroker plus: `healthy` (the account call fails when False), `auth_ok`, and a live event queue."""

    def __init__(self) -> None:
        super().__init__()
        self.healthy = True
        self.auth_ok = True
        self.logins = 0
        self.streams = 0
        self.queue: asyncio.Queue[TradeEvent] = asyncio.Queue()

    async def authenticate(self, credentials: ConnectionCredentials) -> SessionInfo:
        self.logins += 1
        if not self.auth_ok:
            raise BrokerAuthenticationError("credentials refused", status_code=401)
        if not self.healthy:
            raise BrokerUnavailableError("HTTP 503", status_code=503)
        return SessionInfo(expires_at=credentials.token_expires_at, account_numbers=["FB0001"])

    async def get_account(self, account_number: str | None = None) -> BrokerAccount:
        if not self.auth_ok:
            raise BrokerAuthenticationError("token expired", status_code=401)
        if not self.healthy:
            raise BrokerUnavailableError("HTTP 503", status_code=503)
        return self.account

    async def trade_updates(self) -> AsyncIterator[TradeEvent]:
        self.streams += 1
        while True:
            yield await self.queue.get()

    def fill_event(self, client_order_id: str, execution_id: str, quantity: int = 1,
                   push: bool = True) -> TradeEvent:
        """A fill of an order the broker knows nothing else about; pushed on the stream unless push=False."""
        at = datetime.now(UTC)
        snapshot = OrderSnapshot(broker_order_id=f"B-{client_order_id}", client_order_id=client_order_id,
                                 status=OrderStatus.PARTIALLY_FILLED, symbol="AAPL", quantity=Decimal(100),
                                 filled_quantity=Decimal(quantity), submitted_at=at - timedelta(seconds=1))
        self.orders[snapshot.broker_order_id] = snapshot
        report = ExecutionReport(execution_id=execution_id, client_order_id=client_order_id,
                                 broker_order_id=snapshot.broker_order_id, connection_id="conn-1", symbol="AAPL",
                                 side="BUY", quantity=Decimal(quantity), price=Decimal(100), executed_at=at)
        self.fills.append(report)
        event = TradeEvent(kind=TradeEventKind.PARTIAL_FILL, order=snapshot, occurred_at=at, execution=report)
        if push:
            self.queue.put_nowait(event)
        return event



class FakeRefresher:
    """Rotates tokens: access-N / refresh-N, each valid for `ttl` seconds; fails while `fail` is set."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self.fail = False
        self.calls = 0

    async def refresh(self, connection: BrokerConnection, credentials: ConnectionCredentials
                      ) -> ConnectionCredentials:
        self.calls += 1
        if self.fail:
            raise RuntimeError("token endpoint said invalid_grant")
        return ConnectionCredentials(access_token=SecretStr(f"access-{self.calls}"),
                                     refresh_token=SecretStr(f"refresh-{self.calls}"),
                                     token_expires_at=datetime.now(UTC) + timedelta(seconds=self.ttl))


class FakeKeepAlive:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def tickle(self, connection: BrokerConnection, gateway: BrokerGateway) -> datetime | None:
        self.calls += 1
        if self.fail:
            raise RuntimeError("session gone")
        return datetime.now(UTC) + timedelta(minutes=10)


@workflow.defn(name="StandInOrder")
class StandInOrderWorkflow:
    """Collects the trade events the stream forwards; ends on the `done` signal."""

    def __init__(self) -> None:
        self.events: list[TradeEvent] = []
        self.finished = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.finished)
        return len(self.events)

    @workflow.signal
    def trade_event(self, event: TradeEvent) -> None:
        self.events.append(event)

    @workflow.signal
    def done(self) -> None:
        self.finished = True

    @workflow.query
    def execution_ids(self) -> list[str]:
        return [e.execution.execution_id for e in self.events if e.execution is not None]
