"""Authenticated broker sessions held in the worker process (secrets never leave it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from domain.broker_integration import (
    BrokerConnection,
    BrokerConnectionManager,
    BrokerConnectionRepository,
    BrokerGateway,
    Clock,
    ConnectionNotReadyError,
    GatewayProvider,
    NotFoundError,
)

__all__ = ["SessionPool"]


@dataclass
class _Session:
    gateway: BrokerGateway
    connection: BrokerConnection


@dataclass
class SessionPool:
    """One authenticated gateway per connection, re-authenticated when the session lapses."""

    connections: BrokerConnectionRepository
    provider: GatewayProvider
    clock: Clock
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def connection(self, connection_id: str) -> BrokerConnection:
        """The stored connection, or NotFoundError."""
        found = await self.connections.get(connection_id)
        if found is None:
            raise NotFoundError(f"connection {connection_id!r} is not registered")
        return found

    async def gateway(self, connection_id: str) -> BrokerGateway:
        """An authenticated gateway for the connection (authenticating first when needed)."""
        lock = self._locks.setdefault(connection_id, asyncio.Lock())
        async with lock:
            session = self._sessions.get(connection_id)
            if session is not None and session.connection.is_usable(self.clock.now()):
                return session.gateway
            return await self._authenticate(connection_id)

    async def _authenticate(self, connection_id: str) -> BrokerGateway:
        manager = BrokerConnectionManager(self.connections, gateways=self.provider, clock=self.clock)
        ok = await manager.establish_connection(connection_id)
        connection = await self.connection(connection_id)
        if not ok:
            raise ConnectionNotReadyError(
                f"connection {connection_id} could not authenticate: {connection.status_reason or connection.status}"
            )
        gateway = self.provider.gateway_for(connection)
        self._sessions[connection_id] = _Session(gateway, connection)
        return gateway

    def invalidate(self, connection_id: str) -> None:
        """Forget the session so the next call authenticates again (after a 401)."""
        self._sessions.pop(connection_id, None)

    async def close(self) -> None:
        """Close every gateway."""
        for session in self._sessions.values():
            await session.gateway.close()
        self._sessions.clear()
