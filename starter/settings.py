"""Runtime settings for brokerflow, read from the environment (prefix ``BROKERFLOW_``).

``DATABASE_URL`` and ``TEMPORAL_ADDRESS`` are also read without the prefix, as Docker and
most platforms set them. ``None`` for either means "run it locally" (embedded PostgreSQL,
Temporal dev server), see ``starter.devstack``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MAX_CACHED_WORKFLOWS", "Settings", "get_settings", "libpq_url", "sqlalchemy_url"]

# Workflows a worker keeps in memory (the SDK's default is 1,000). A resting order that was evicted replays its
# whole history in the sandbox at each wake-up; 10,000 resting orders on one worker need them all cached.
MAX_CACHED_WORKFLOWS = 10_000

_PLAIN_SCHEMES = ("postgresql://", "postgres://")
_PSYCOPG_SCHEME = "postgresql+psycopg://"


class Settings(BaseSettings):
    """Hold every knob of the service; each field maps to ``BROKERFLOW_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="BROKERFLOW_", env_ignore_empty=True, extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path("./.brokerflow")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BROKERFLOW_DATABASE_URL", "DATABASE_URL", "database_url"),
    )
    temporal_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("BROKERFLOW_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS", "temporal_address"),
    )
    temporal_namespace: str = "default"
    task_queue: str = "brokerflow-orders"
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    ui_codec_endpoint: str | None = None
    secret_key: SecretStr | None = None
    max_concurrent_activities: int = Field(default=100, ge=1)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=1)
    # 0 disables the cache: every workflow task replays its workflow's history.
    max_cached_workflows: int = Field(default=MAX_CACHED_WORKFLOWS, ge=0)
    simulator_port: int = Field(default=8787, ge=1, le=65535)
    startup_timeout: float = Field(default=30.0, gt=0)
    # Operations (docs/production.md): metrics are served by workers only, when a port is set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    otel_enabled: bool = False
    otel_endpoint: str | None = None
    otel_service_name: str = "brokerflow"
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # A production Temporal cluster: TLS (server CA, client certificate for mTLS) or an API key (Temporal Cloud).
    temporal_tls: bool = False
    temporal_tls_server_ca: Path | None = None
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None
    # Payload codec (security/codec.py): on by default; BROKERFLOW_CODEC_KEYS="kid:base64key,..." rotates keys.
    codec_enabled: bool = True
    codec_keys: SecretStr | None = None
    # Codec server (`brokerflow codec-server`): loopback by default, a bearer token always required.
    codec_token: SecretStr | None = None
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = Field(default=8888, ge=1, le=65535)
    codec_cors_origins: str = "http://localhost:8233,http://127.0.0.1:8233"
    # Alert sinks (alerting/): the log always; a JSON webhook signed with HMAC-SHA256 of the body
    # (X-Brokerflow-Signature: sha256=<hex>) and a chat webhook ({"text": ...}) when their URLs are set.
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_chat_url: SecretStr | None = None
    alert_webhook_attempts: int = Field(default=3, ge=1, le=10)
    alert_webhook_timeout: float = Field(default=5.0, gt=0, le=60)

    @property
    def resolved_data_dir(self) -> Path:
        """Return the data directory as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def manages_postgres(self) -> bool:
        """Tell whether ``dev up`` runs the embedded PostgreSQL."""
        return self.database_url is None

    @property
    def manages_temporal(self) -> bool:
        """Tell whether ``dev up`` runs the Temporal dev server."""
        return self.temporal_address is None

    @property
    def effective_temporal_address(self) -> str:
        """Return the configured Temporal address, or the local dev server's."""
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        """Return the Web UI URL of the local dev server (None for an external server)."""
        return f"http://localhost:{self.temporal_ui_port}" if self.manages_temporal else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once; ``get_settings.cache_clear()`` to re-read)."""
    return Settings()


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver scheme SQLAlchemy needs."""
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return _PSYCOPG_SCHEME + url[len(scheme) :]
    return url


def libpq_url(url: str) -> str:
    """Return ``url`` in the plain ``postgresql://`` form psycopg and libpq accept."""
    if url.startswith(_PSYCOPG_SCHEME):
        return "postgresql://" + url[len(_PSYCOPG_SCHEME) :]
    return url
