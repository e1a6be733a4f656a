"""Every broker client of the process shares one TLS context that verifies certificates: httpx would load the CA
bundle again for each client it builds (~40 ms of CPU), and logins, token refreshes and account reloads build
clients all day."""

from __future__ import annotations

import ssl
from typing import Any

from brokers.alpaca.client import AlpacaAuth, AlpacaClient
from brokers.oanda.client import OandaAuth, OandaClient
from brokers.oanda.config import OandaConfig
from brokers.tls import tls_context
from brokers.tradier.client import TradierAuth, TradierClient
from brokers.tradier.config import TradierConfig


def _context(http: Any) -> ssl.SSLContext:
    return http._transport._pool._ssl_context  # httpx 0.28 / httpcore 1.x (pinned)


async def test_broker_clients_share_one_verifying_tls_context() -> None:
    shared = tls_context()
    assert shared is tls_context()
    assert shared.verify_mode is ssl.CERT_REQUIRED and shared.check_hostname
    alpaca = [AlpacaClient("https://paper-api.alpaca.markets", AlpacaAuth(key_id="k", secret_key="s"))
              for _ in range(2)]
    oanda = OandaClient(OandaConfig(), OandaAuth("t"))
    tradier = TradierClient(TradierConfig(), TradierAuth("t"))
    https = [c._http for c in alpaca] + [oanda._http, oanda._stream, tradier._http]
    try:
        assert all(_context(http) is shared for http in https)
    finally:
        for http in https:
            await http.aclose()
