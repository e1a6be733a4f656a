"""What `starter.client.connect` adds to a Temporal connection beyond the data converter.

TLS or an API key for a production cluster, the tracing interceptor when tracing is on, and, for
workers with a metrics port, the runtime that serves the Prometheus endpoint.
"""

from __future__ import annotations

from typing import Any

from temporalio.service import TLSConfig

from .settings import Settings

__all__ = ["TemporalSettingsError", "connect_options", "tls_config"]


class TemporalSettingsError(ValueError):
    """The Temporal connection settings do not fit together (e.g. a client cert without its key)."""


def _read(path: Any, what: str) -> bytes:
    try:
        return bytes(path.expanduser().read_bytes())
    except OSError as exc:
        raise TemporalSettingsError(f"cannot read the Temporal {what} {path}: {exc.strerror}") from exc


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the Temporal connection: False, True (system CAs), or a config with CA / client cert."""
    cert, key = settings.temporal_tls_client_cert, settings.temporal_tls_client_key
    if (cert is None) != (key is None):
        raise TemporalSettingsError("BROKERFLOW_TEMPORAL_TLS_CLIENT_CERT and ..._CLIENT_KEY go together")
    custom = cert or settings.temporal_tls_server_ca or settings.temporal_tls_server_name
    if not custom:
        return settings.temporal_tls or settings.temporal_api_key is not None
    return TLSConfig(
        server_root_ca_cert=_read(settings.temporal_tls_server_ca, "server CA")
        if settings.temporal_tls_server_ca else None,
        domain=settings.temporal_tls_server_name,
        client_cert=_read(cert, "client certificate") if cert else None,
        client_private_key=_read(key, "client key") if key else None,
    )


def connect_options(settings: Settings, *, serve_metrics: bool = False) -> dict[str, Any]:
    """Keyword arguments for `Client.connect`: tls, api_key, interceptors and (workers) the metrics runtime."""
    from observability.runtime import metrics_runtime
    from observability.tracing import tracing_interceptors

    options: dict[str, Any] = {"tls": tls_config(settings), "interceptors": tracing_interceptors(settings)}
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    if serve_metrics and settings.metrics_port is not None:
        options["runtime"] = metrics_runtime(settings.metrics_host, settings.metrics_port)
    return options
