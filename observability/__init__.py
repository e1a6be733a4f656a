"""Operations: Prometheus metrics (Temporal's and ours on one endpoint), OpenTelemetry tracing, logging."""

from .logs import configure_logging, redact, register_secret
from .runtime import MetricsEndpointError, metrics_runtime
from .tracing import tracing_interceptors

__all__ = ["MetricsEndpointError", "configure_logging", "metrics_runtime", "redact", "register_secret",
           "tracing_interceptors"]
