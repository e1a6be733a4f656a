"""One running simulator: the exchange plus everything the front ends share (credentials, faults, stream hub)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from simulator.alpaca.auth import Credentials, RateLimiter
from simulator.alpaca.stream import StreamHub
from simulator.alpaca.wire import event_json
from simulator.config import AccountConfig, SimConfig
from simulator.core import Account, Exchange, TradeEvent
from simulator.factory import build_account, build_exchange
from simulator.faults import FaultState
from simulator.tradier.oauth import OAuthServer

__all__ = ["SimulatorRuntime", "Submission"]

log = logging.getLogger("simulator")


@dataclass
class Submission:
    """One POST /v2/orders the broker received, whatever became of it."""

    seq: int
    account_id: str
    client_order_id: str | None
    received_at: datetime
    received_wall: float
    http_status: int = 0
    order_id: str | None = None
    code: int | None = None
    message: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


class SimulatorRuntime:
    """Holds the exchange and shared front-end state; reset() rebuilds it from the configuration."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.faults = FaultState(config.seed)
        self.hub = StreamHub(self._encode, binary=config.stream_binary_frames)
        self.autotick_enabled = config.autotick
        self.autotick_interval = config.autotick_interval
        self._build()

    def _build(self) -> None:
        self.exchange: Exchange = build_exchange(self.config)
        self.credentials = Credentials()
        self.oauth = OAuthServer(self.config.oauth_clients, self.credentials,
                                 token_ttl=self.config.oauth_token_ttl_seconds,
                                 grace=self.config.oauth_refresh_grace_seconds)
        self.limiter = RateLimiter(self.config.rate_limit_per_minute)
        self.submissions: list[Submission] = []
        for account in self.config.accounts:
            self._register_credentials(account)
        self.exchange.state.events.subscribe(self.hub.publish)

    def reset(self, seed: int | None = None) -> None:
        """Drop all state, faults and stream connections; start again from the configuration."""
        if seed is not None:
            self.config = self.config.model_copy(update={"seed": seed})
        self.hub.disconnect_all()
        self.faults.reset(self.config.seed)
        self._build()

    def faults_ref(self) -> FaultState:
        return self.faults

    def add_account(self, cfg: AccountConfig) -> Account:
        if cfg.id in self.exchange.state.accounts:
            raise ValueError(f"account {cfg.id} exists")
        account = build_account(cfg, self.exchange)
        self._register_credentials(cfg)
        return account

    def _register_credentials(self, cfg: AccountConfig) -> None:
        for key in cfg.keys:
            self.credentials.add_key(key.key, key.secret, cfg.id)
        for token in cfg.tokens:
            self.credentials.add_token(cfg.id, token)

    def rate_limit(self) -> int:
        override = self.faults.settings.rate_limit_per_minute
        return override if override is not None else self.config.rate_limit_per_minute

    def commission_enabled(self, account_id: str) -> bool:
        account = self.exchange.state.accounts.get(account_id)
        return bool(account and (account.commission_per_share > 0 or account.commission_minimum > 0))

    def _encode(self, event: TradeEvent) -> dict[str, Any]:
        return event_json(event, commission=self.commission_enabled(event.order.account_id))

    def record_submission(self, account_id: str, client_order_id: str | None, body: Any) -> Submission:
        entry = Submission(
            seq=len(self.submissions) + 1, account_id=account_id, client_order_id=client_order_id,
            received_at=self.exchange.state.now(), received_wall=time.time(),
            body=body if isinstance(body, dict) else {},
        )
        self.submissions.append(entry)
        return entry

    async def autotick(self) -> None:
        """Advance the simulated clock in step with wall time while enabled (standalone runs)."""
        while True:
            interval = max(self.autotick_interval, 0.01)
            await asyncio.sleep(interval)
            if not self.autotick_enabled:
                continue
            try:
                self.exchange.advance(Decimal(repr(interval)))
            except Exception:  # pragma: no cover - keep ticking whatever one tick did
                log.exception("tick failed")

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        task = asyncio.create_task(self.autotick())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.hub.disconnect_all()
