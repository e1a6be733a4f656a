"""Engine and session factory: one async SQLAlchemy engine on psycopg 3 per process."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

__all__ = ["create_engine", "create_sync", "libpq_url", "normalise_url", "session_factory"]

_PLAIN_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://")
_PSYCOPG_SCHEME = "postgresql+psycopg://"


def normalise_url(url: str) -> str:
    """Return `url` with the psycopg 3 driver scheme SQLAlchemy needs."""
    for scheme in _PLAIN_SCHEMES:
        if url.startswith(scheme):
            return _PSYCOPG_SCHEME + url[len(scheme) :]
    if not url.startswith(_PSYCOPG_SCHEME):
        raise ValueError("database URL must be a PostgreSQL URL (postgresql://...)")
    return url


def libpq_url(url: str) -> str:
    """Return `url` in the plain `postgresql://` form libpq and psycopg accept."""
    return "postgresql://" + normalise_url(url)[len(_PSYCOPG_SCHEME) :]


def _engine_options(extra: dict[str, Any]) -> dict[str, Any]:
    # hide_parameters: a failing statement's message must never carry row values (ciphertext, ids).
    return {"hide_parameters": True, "pool_pre_ping": True, **extra}


def create_engine(url: str, **options: Any) -> AsyncEngine:
    """Create the async engine for `url` (postgresql:// is accepted and normalised)."""
    return create_async_engine(normalise_url(url), **_engine_options(options))


def create_sync(url: str, **options: Any) -> Engine:
    """Create a synchronous engine (migrations, CLI checks) for `url`."""
    return create_sync_engine(normalise_url(url), **_engine_options(options))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory the repositories use (no expiry on commit)."""
    return async_sessionmaker(engine, expire_on_commit=False)
