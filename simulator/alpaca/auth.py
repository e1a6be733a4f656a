"""API keys and OAuth bearer tokens mapped to accounts, and Alpaca's per-key rate limit."""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Credentials", "Identity", "RateLimiter", "Token"]


@dataclass(frozen=True)
class Identity:
    """Who is calling: the account and the key or token used (the rate-limit bucket)."""

    account_id: str
    principal: str
    token: str | None = None


@dataclass
class Token:
    account_id: str
    expires_at: float | None = None  # time.time() seconds; None: never
    revoked: bool = False

    def valid(self) -> bool:
        return not self.revoked and (self.expires_at is None or time.time() < self.expires_at)


@dataclass
class Credentials:
    """Key -> (secret, account) and token -> account; each key or token maps to exactly one account."""

    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)

    def add_key(self, key: str, secret: str, account_id: str) -> None:
        self.keys[key] = (secret, account_id)

    def add_token(self, account_id: str, token: str | None = None, ttl_seconds: float | None = None) -> str:
        token = token or secrets.token_hex(16)
        expires = time.time() + ttl_seconds if ttl_seconds is not None else None
        self.tokens[token] = Token(account_id, expires)
        return token

    def expire(self, token: str) -> bool:
        entry = self.tokens.get(token)
        if entry is None:
            return False
        entry.revoked = True
        return True

    def by_key(self, key: str | None, secret: str | None) -> Identity | None:
        entry = self.keys.get(key or "")
        if entry is None or not secrets.compare_digest(entry[0], secret or ""):
            return None
        return Identity(entry[1], f"key:{key}")

    def by_token(self, token: str | None) -> Identity | None:
        entry = self.tokens.get(token or "")
        if entry is None or not entry.valid():
            return None
        return Identity(entry.account_id, f"token:{token}", token)

    def from_headers(self, headers: Mapping[str, str]) -> Identity | None:
        """Authenticate REST headers: Bearer token if present, else the two APCA headers."""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return self.by_token(authorization[7:].strip())
        return self.by_key(headers.get("apca-api-key-id"), headers.get("apca-api-secret-key"))


class RateLimiter:
    """A sliding one-minute window per principal."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}

    def hit(self, principal: str) -> tuple[bool, dict[str, str]]:
        """Count a request; return whether it is allowed and the X-Ratelimit-* headers."""
        now = time.time()
        window = self._hits.setdefault(principal, deque())
        while window and window[0] <= now - 60:
            window.popleft()
        allowed = len(window) < self.per_minute
        if allowed:
            window.append(now)
        reset = math.ceil(window[0] + 60 if window else now + 60)
        headers = {
            "X-Ratelimit-Limit": str(self.per_minute),
            "X-Ratelimit-Remaining": str(max(self.per_minute - len(window), 0)),
            "X-Ratelimit-Reset": str(reset),
        }
        return allowed, headers

    def clear(self) -> None:
        self._hits.clear()
