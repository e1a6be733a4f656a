"""Connecting to Temporal the way every brokerflow client and worker must (pydantic converter + payload codec)."""

from __future__ import annotations

from temporalio.client import Client

from security.codec import data_converter_for_settings

from .devstack import temporal_address_for
from .settings import Settings, get_settings
from .temporal_options import connect_options

__all__ = ["connect"]


async def connect(settings: Settings | None = None, address: str | None = None, *, serve_metrics: bool = False
                  ) -> Client:
    """A Temporal client for the configured (or local dev) server.

    TLS / API key and tracing come from the settings; `serve_metrics` (workers) serves the Prometheus
    endpoint on `BROKERFLOW_METRICS_PORT` when it is set.
    """
    settings = settings or get_settings()
    return await Client.connect(
        address or temporal_address_for(settings),
        namespace=settings.temporal_namespace,
        data_converter=data_converter_for_settings(settings),  # workers built on this client share it
        **connect_options(settings, serve_metrics=serve_metrics),
    )
