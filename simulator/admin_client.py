"""Clients for the /_sim admin API: AdminClient (async, httpx) and SyncAdminClient; same methods, same JSON.

Give `token` when the simulator requires an admin token (it is sent as a bearer token).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

__all__ = ["AdminClient", "SyncAdminClient"]

Number = Decimal | int | float | str


def _s(value: Number | None) -> str | None:
    return None if value is None else str(value)


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


class _AdminCalls:
    """Request builders; `_call` returns the decoded JSON (a coroutine of it in the async client)."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def health(self) -> Any:
        return self._call("GET", "/_sim/health")

    def state(self) -> Any:
        return self._call("GET", "/_sim/state")

    def reset(self, seed: int | None = None) -> Any:
        return self._call("POST", "/_sim/reset", {"seed": seed} if seed is not None else {})

    def clock(self) -> Any:
        return self._call("GET", "/_sim/clock")

    def advance(self, seconds: Number = 1, until: str | None = None) -> Any:
        """Run the market `seconds` forward, or `until` "open", "close" or an RFC 3339 time."""
        return self._call("POST", "/_sim/clock/advance", {"until": until} if until else {"seconds": _s(seconds)})

    def autotick(self, enabled: bool, interval_s: float | None = None) -> Any:
        body: dict[str, Any] = {"enabled": enabled}
        if interval_s is not None:
            body["interval_s"] = interval_s
        return self._call("POST", "/_sim/autotick", body)

    def prices(self) -> Any:
        return self._call("GET", "/_sim/prices")

    def set_price(self, symbol: str, price: Number, volatility: Number | None = None) -> Any:
        """Pin the last price (and optionally the volatility; 0 freezes the path) and re-run matching."""
        body = {"price": _s(price)} | ({"volatility": _s(volatility)} if volatility is not None else {})
        return self._call("POST", f"/_sim/prices/{symbol}", body)

    def set_liquidity(self, symbol: str, per_tick: Number | None) -> Any:
        return self._call("POST", f"/_sim/liquidity/{symbol}", {"per_tick": _s(per_tick)})

    def create_account(self, account_id: str, type: str = "margin", cash: Number = 100000, *,
                       key: str | None = None, secret: str | None = None, tokens: list[str] | None = None,
                       positions: dict[str, Number] | None = None, **extra: Any) -> Any:
        body: dict[str, Any] = {"id": account_id, "type": type, "cash": _s(cash), "tokens": tokens or [], **extra}
        if key is not None:
            body["keys"] = [{"key": key, "secret": secret or ""}]
        if positions:
            body["positions"] = {s: {"qty": _s(q)} for s, q in positions.items()}
        return self._call("POST", "/_sim/accounts", body)

    def accounts(self) -> Any:
        return self._call("GET", "/_sim/accounts")

    def issue_token(self, account_id: str, token: str | None = None, ttl_seconds: float | None = None,
                    client_id: str | None = None) -> Any:
        """A bearer token for the account: {token, account_id, ttl_seconds, refresh_token, client_id}.

        `refresh_token` works with Tradier's refresh grant for the OAuth client `client_id` (default: the
        first configured, SIMCLIENT); it is None when the simulator has no OAuth clients.
        """
        body: dict[str, Any] = {"account_id": account_id, "token": token, "ttl_seconds": ttl_seconds}
        if client_id is not None:
            body["client_id"] = client_id
        return self._call("POST", "/_sim/tokens", body)

    def expire_token(self, token: str, close_streams: bool = True) -> Any:
        return self._call("POST", "/_sim/tokens/expire", {"token": token, "close_streams": close_streams})

    def faults(self) -> Any:
        return self._call("GET", "/_sim/faults")

    def set_faults(self, **settings: Any) -> Any:
        """Merge fault settings: latency_ms, error_rate, error_status, error_match, burst_429,
        drop_responses, drop_mode ("close"|"delay"), drop_delay_s, drop_match, rate_limit_per_minute,
        ack_delay_ms (every order submission answers that much later)."""
        return self._call("PUT", "/_sim/faults", settings)

    def clear_faults(self) -> Any:
        return self._call("DELETE", "/_sim/faults")

    def set_quirks(self, **quirks: Any) -> Any:
        """Venue races: fill_before_cancel, fill_before_replace, reject_after_accept (counts), flags
        emit_pending_new, eod_done_for_day, replace_keeps_original_qty; injected anomalies: bad_fill_bps
        (fills that many bps worse than the quote), stall_fills (work, never fill), stall_after_partial."""
        return self._call("PUT", "/_sim/quirks", quirks)

    def disconnect_streams(self, refuse_seconds: float = 0) -> Any:
        return self._call("POST", "/_sim/stream/disconnect", {"refuse_seconds": refuse_seconds})

    def lose_stream_events(self, events: int) -> Any:
        """Send the next `events` trade events nowhere; the answer lists the ones lost so far."""
        return self._call("POST", "/_sim/stream/lose", {"events": events})

    def orders(self, account_id: str | None = None) -> Any:
        """The broker's view: orders, by_client_order_id, submissions (every POST received), dropped_responses."""
        return self._call("GET", "/_sim/orders", params={"account_id": account_id} if account_id else None)

    def events(self, account_id: str | None = None, after_seq: int = 0) -> Any:
        params: dict[str, Any] = {"after_seq": after_seq} | ({"account_id": account_id} if account_id else {})
        return self._call("GET", "/_sim/events", params=params)

    def activities(self, account_id: str | None = None) -> Any:
        return self._call("GET", "/_sim/activities", params={"account_id": account_id} if account_id else None)


class AdminClient(_AdminCalls):
    """Async admin client; every method returns an awaitable of the decoded JSON."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=_headers(token))

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
                    params: dict[str, Any] | None = None) -> Any:
        response = await self.http.request(method, path, json=body, params=params)
        response.raise_for_status()
        return response.json()

    async def aclose(self) -> None:
        await self.http.aclose()


class SyncAdminClient(_AdminCalls):
    """Blocking admin client (subprocess tests, scripts)."""

    def __init__(self, base_url: str, timeout: float = 30.0, token: str | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=timeout, headers=_headers(token))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, path, json=body, params=params)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()
