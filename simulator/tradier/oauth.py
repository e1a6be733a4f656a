"""Tradier's OAuth 2.0 endpoints for partner applications: authorization codes, access and refresh tokens.

* `GET /v1/oauth/authorize?client_id&scope&state` — on Tradier a browser page where the user approves; here it
  approves at once for the account named by `account_id` (a simulator extension; default: the first account)
  and redirects to `redirect_uri?code=…&state=…`, or answers `{"code", "state"}` without a redirect_uri.
  Codes are single use and valid 10 minutes [DOC].
* `POST /v1/oauth/accesstoken`, form `grant_type=authorization_code&code=…` [DOC].
* `POST /v1/oauth/refreshtoken`, form `grant_type=refresh_token&refresh_token=…` [ASSUME: from Tradier's partner
  docs; not in our wire reference].

Both token calls take HTTP Basic `client_id:client_secret` and answer
`{"access_token","refresh_token","expires_in","issued_at","scope","status":"approved"}`. Refresh tokens rotate:
a used one stops working. Our choice (not documented by Tradier): repeating the SAME refresh within the grace
window (`oauth_refresh_grace_seconds`, 60 s) answers the same new pair, as long as that pair's refresh token is
unused, so a client whose answer was lost can retry safely. The old access token stays valid until it expires.
A wrong client or secret is a 401, a bad code or refresh token a 400, both in Tradier's `{"errors": …}` shape.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from simulator.alpaca.auth import Credentials
from simulator.config import OAuthClientConfig
from simulator.tradier.frontend import TradierError, form, frontend, render

if TYPE_CHECKING:
    from simulator.runtime import SimulatorRuntime

__all__ = ["OAuthServer", "TokenPair", "oauth_routes"]

SCOPE = "read write market trade stream"
CODE_TTL = 600.0


@dataclass(frozen=True)
class TokenPair:
    """One answer of the token endpoints."""

    access_token: str
    refresh_token: str
    expires_in: int
    issued_at: str
    scope: str

    def body(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "expires_in": self.expires_in, "issued_at": self.issued_at, "scope": self.scope,
                "status": "approved"}


@dataclass
class _Grant:
    """What a refresh token (or an authorization code) stands for, and what became of it."""

    client_id: str
    account_id: str
    scope: str
    ttl: float
    expires_at: float | None = None  # codes only
    used_at: float | None = None
    successor: TokenPair | None = None


class OAuthServer:
    """OAuth clients, authorization codes and refresh tokens of one simulator run (a reset forgets them)."""

    def __init__(self, clients: list[OAuthClientConfig], credentials: Credentials, *, token_ttl: float,
                 grace: float, clock: Callable[[], float] = time.time) -> None:
        self._clients = {c.client_id: c.client_secret for c in clients}
        self._credentials = credentials
        self.token_ttl = token_ttl
        self.grace = grace
        self._clock = clock
        self._codes: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}

    def client(self, client_id: str | None = None) -> str:
        """A registered client id: the one given, else the first configured."""
        if client_id is None and self._clients:
            return next(iter(self._clients))
        if client_id not in self._clients:
            raise KeyError(f"unknown OAuth client {client_id}")
        return client_id

    @property
    def has_clients(self) -> bool:
        return bool(self._clients)

    def check_client(self, client_id: str, secret: str) -> bool:
        known = self._clients.get(client_id)
        return known is not None and secrets.compare_digest(known.encode(), secret.encode())

    def authorize(self, client_id: str, account_id: str, scope: str = SCOPE) -> str:
        """A single-use authorization code for the account, valid 10 minutes."""
        code = secrets.token_urlsafe(18)
        self._codes[code] = _Grant(self.client(client_id), account_id, scope, self.token_ttl,
                                   expires_at=self._clock() + CODE_TTL)
        return code

    def add_refresh_token(self, account_id: str, client_id: str | None = None, ttl: float | None = None,
                          scope: str = SCOPE) -> str:
        """A refresh token for the account (the admin API's, next to the access token it issued)."""
        token = secrets.token_hex(16)
        self._refresh[token] = _Grant(self.client(client_id), account_id, scope, ttl or self.token_ttl)
        return token

    def exchange_code(self, client_id: str, code: str) -> TokenPair:
        grant = self._codes.pop(code, None)
        if grant is None or grant.client_id != client_id or (grant.expires_at or 0) < self._clock():
            raise TradierError(400, "Invalid authorization code")
        return self._issue(grant)

    def refresh(self, client_id: str, refresh_token: str) -> TokenPair:
        grant = self._refresh.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            raise TradierError(400, "Invalid refresh token")
        now = self._clock()
        if grant.used_at is None:
            grant.used_at, grant.successor = now, self._issue(grant)
            return grant.successor
        successor = grant.successor
        if successor is not None and now - grant.used_at <= self.grace \
                and self._refresh[successor.refresh_token].used_at is None:
            return successor  # the same refresh, retried: the same pair
        raise TradierError(400, "Refresh token has already been used")

    def _issue(self, grant: _Grant) -> TokenPair:
        access = self._credentials.add_token(grant.account_id, None, grant.ttl)
        refresh = secrets.token_hex(16)
        self._refresh[refresh] = _Grant(grant.client_id, grant.account_id, grant.scope, grant.ttl)
        issued = datetime.now(UTC).isoformat(timespec="seconds")
        return TokenPair(access, refresh, int(grant.ttl), issued, grant.scope)


def _basic_client(request: Request, server: OAuthServer) -> str:
    """The client id of a valid `Authorization: Basic base64(client_id:client_secret)`; else a 401."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        client_id, secret = "", ""
    if scheme.lower() != "basic" or not server.check_client(client_id, secret):
        raise TradierError(401, "Invalid client credentials")
    return client_id


def _grant_type(fields: dict[str, str], expected: str) -> None:
    grant = fields.get("grant_type", "").strip()
    if grant != expected:
        raise TradierError(400, f"Invalid Parameter: grant_type (expected {expected})" if grant
                           else "Missing Parameter: grant_type")


def _sim(request: Request) -> SimulatorRuntime:
    return frontend(request).sim


async def _token_call(request: Request, grant: str, key: str,
                      issue: Callable[[OAuthServer, str, str], TokenPair]) -> Response:
    server = _sim(request).oauth
    try:
        client_id = _basic_client(request, server)
        fields = await form(request)
        _grant_type(fields, grant)
        value = fields.get(key, "").strip()
        if not value:
            raise TradierError(400, f"Missing Parameter: {key}")
        return render(request, issue(server, client_id, value).body())
    except TradierError as error:
        return render(request, error.body(), error.status)


async def access_token(request: Request) -> Response:
    return await _token_call(request, "authorization_code", "code", OAuthServer.exchange_code)


async def refresh_token(request: Request) -> Response:
    return await _token_call(request, "refresh_token", "refresh_token", OAuthServer.refresh)


async def authorize(request: Request) -> Response:
    sim, query = _sim(request), request.query_params
    accounts = sim.exchange.state.accounts
    account_id = query.get("account_id") or next(iter(accounts), "")
    try:
        client_id = sim.oauth.client(query.get("client_id", ""))
    except KeyError:
        return render(request, TradierError(400, "Invalid Parameter: client_id").body(), 400)
    if account_id not in accounts:
        return render(request, TradierError(400, "Invalid Parameter: account_id").body(), 400)
    code = sim.oauth.authorize(client_id, account_id, query.get("scope", SCOPE).replace(",", " "))
    state = query.get("state", "")
    redirect = query.get("redirect_uri")
    if redirect:
        joiner = "&" if "?" in redirect else "?"
        return RedirectResponse(f"{redirect}{joiner}{urlencode({'code': code, 'state': state})}", 302)
    return render(request, {"code": code, "state": state})


def oauth_routes() -> list[Route]:
    return [
        Route("/v1/oauth/authorize", authorize, methods=["GET"]),
        Route("/v1/oauth/accesstoken", access_token, methods=["POST"]),
        Route("/v1/oauth/refreshtoken", refresh_token, methods=["POST"]),
    ]
