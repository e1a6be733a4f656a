"""OpenTelemetry tracing through Temporal's contrib interceptor; off unless `BROKERFLOW_OTEL_ENABLED`.

With it on, every client call, workflow and activity is a span, exported over OTLP/HTTP to
`BROKERFLOW_OTEL_ENDPOINT` (else the standard `OTEL_EXPORTER_OTLP_*` variables, else localhost:4318).
Span attributes are Temporal's ids and types: no order payloads, no secrets.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

__all__ = ["TRACER_NAME", "reset_tracing", "tracer_provider", "tracing_interceptors"]

TRACER_NAME = "brokerflow"
_PROVIDER: TracerProvider | None = None
_LOCK = threading.Lock()


def _otlp_processor(endpoint: str | None) -> SpanProcessor:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))


def tracer_provider(service_name: str, endpoint: str | None, processor: SpanProcessor | None = None
                    ) -> TracerProvider:
    """The process's tracer provider (created once): OTLP export unless a processor is given."""
    global _PROVIDER
    with _LOCK:
        if _PROVIDER is None:
            _PROVIDER = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
            _PROVIDER.add_span_processor(processor or _otlp_processor(endpoint))
        return _PROVIDER


def reset_tracing() -> None:
    """Flush and drop the process's tracer provider (tests; shutdown)."""
    global _PROVIDER
    with _LOCK:
        if _PROVIDER is not None:
            _PROVIDER.shutdown()
        _PROVIDER = None


def tracing_interceptors(settings: Any, processor: SpanProcessor | None = None) -> list[TracingInterceptor]:
    """`[TracingInterceptor]` when tracing is enabled in `settings`, else `[]`."""
    if not settings.otel_enabled:
        return []
    provider = tracer_provider(settings.otel_service_name, settings.otel_endpoint, processor)
    return [TracingInterceptor(provider.get_tracer(TRACER_NAME))]
