"""Pluggable authentication steps the supervisor calls: OAuth token refresh and session keep-alive.

Alpaca has neither a token endpoint we may call nor a session to tickle, so no broker registers one
by default; a broker that needs them (an OAuth provider, an IBKR-style gateway session) registers its
own, and tests register fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.broker_integration import BrokerConnection, BrokerGateway, ConnectionCredentials

__all__ = ["AUTH_PLUGINS", "AuthPlugins", "KeepAlive", "TokenRefresher"]


class TokenRefresher(Protocol):
    async def refresh(self, connection: BrokerConnection, credentials: ConnectionCredentials
                      ) -> ConnectionCredentials:
        """Exchange the refresh token for new credentials (rotated refresh token, new expiry); raise on failure."""
        ...


class KeepAlive(Protocol):
    async def tickle(self, connection: BrokerConnection, gateway: BrokerGateway) -> datetime | None:
        """Keep the broker session alive; return its new expiry (None: unchanged); raise on failure."""
        ...


@dataclass
class AuthPlugins:
    """Token refreshers and keep-alives by broker name."""

    refreshers: dict[str, TokenRefresher] = field(default_factory=dict)
    keepalives: dict[str, KeepAlive] = field(default_factory=dict)

    def refresher_for(self, broker: str) -> TokenRefresher | None:
        """The broker's token refresher, if it has one."""
        return self.refreshers.get(broker.strip().lower())

    def keepalive_for(self, broker: str) -> KeepAlive | None:
        """The broker's keep-alive, if its sessions need one."""
        return self.keepalives.get(broker.strip().lower())

    def register_refresher(self, broker: str, refresher: TokenRefresher | None) -> None:
        """Install (or with None remove) a broker's token refresher."""
        key = broker.strip().lower()
        if refresher is None:
            self.refreshers.pop(key, None)
        else:
            self.refreshers[key] = refresher

    def register_keepalive(self, broker: str, keepalive: KeepAlive | None) -> None:
        """Install (or with None remove) a broker's keep-alive."""
        key = broker.strip().lower()
        if keepalive is None:
            self.keepalives.pop(key, None)
        else:
            self.keepalives[key] = keepalive


# The worker process's plugins; ConnectionActivities uses these unless given its own.
AUTH_PLUGINS = AuthPlugins()
