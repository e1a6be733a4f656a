"""One TLS context for every broker client of the process.

httpx builds a new SSL context for each client, loading the whole CA bundle every time (~40 ms of CPU here),
and a session login, a token refresh and every account reload open clients. The context is built once, as
httpx builds its default one (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR), and shared: an SSLContext
serves any number of connections.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context for broker HTTPS (verifying certificates, as httpx does by default)."""
    return httpx.create_ssl_context()
