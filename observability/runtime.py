"""The Temporal runtime of a process: one Prometheus endpoint for the SDK's metrics and ours.

A runtime binds its metrics port when it is created, so each process makes at most one per address
(`metrics_runtime` caches it). Only workers serve metrics: CLI clients keep the default runtime.
"""

from __future__ import annotations

import threading

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from .metrics import HISTOGRAM_BUCKETS

__all__ = ["MetricsEndpointError", "metrics_address", "metrics_runtime"]

_RUNTIMES: dict[str, Runtime] = {}
_LOCK = threading.Lock()


class MetricsEndpointError(RuntimeError):
    """The Prometheus endpoint could not be opened (port taken, bad address)."""


def metrics_address(host: str, port: int) -> str:
    """`host:port` as the runtime binds it (IPv6 hosts bracketed)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def metrics_runtime(host: str, port: int) -> Runtime:
    """The runtime serving http://host:port/metrics (created once per address in this process)."""
    address = metrics_address(host, port)
    with _LOCK:
        runtime = _RUNTIMES.get(address)
        if runtime is None:
            config = PrometheusConfig(bind_address=address, histogram_bucket_overrides=HISTOGRAM_BUCKETS)
            try:
                runtime = Runtime(telemetry=TelemetryConfig(metrics=config))
            except Exception as exc:  # the core raises a plain RuntimeError/ValueError for a taken port
                raise MetricsEndpointError(f"cannot serve metrics on {address}: {exc}") from exc
            _RUNTIMES[address] = runtime
        return runtime
