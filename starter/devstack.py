"""The local stack behind ``brokerflow dev up|down|status``: PostgreSQL and Temporal.

Each part is either external (``DATABASE_URL`` / ``TEMPORAL_ADDRESS`` set: only checked) or
managed (embedded PostgreSQL, Temporal dev server: started detached, recorded in
``<data_dir>/stack.json``, reused by the next ``up``, stopped by ``down``). Only processes
recorded in ``stack.json`` and still recognisable as ours are ever stopped.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starter import localpg, localtemporal
from starter.paths import StackPaths, read_state, write_state
from starter.processes import is_alive, is_our_process
from starter.settings import Settings, get_settings, sqlalchemy_url

__all__ = [
    "PartStatus",
    "StackError",
    "StackInfo",
    "database_url_for",
    "redact_url",
    "run_migrations",
    "stack_status",
    "start_stack",
    "stop_stack",
    "temporal_address_for",
]

STATE_VERSION = 1


class StackError(RuntimeError):
    """A part of the stack is missing, unreachable, or could not be started."""


@dataclass(frozen=True)
class StackInfo:
    """Where the running stack answers, and the pids of the parts we manage."""

    data_dir: Path
    database_url: str
    temporal_address: str
    temporal_namespace: str
    ui_url: str | None
    postgres_pid: int | None
    temporal_pid: int | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict, with the database password hidden."""
        data = asdict(self) | {"data_dir": str(self.data_dir)}
        return data | {"database_url": redact_url(self.database_url)}


@dataclass(frozen=True)
class PartStatus:
    """One part of the stack as ``dev status`` shows it."""

    name: str
    up: bool
    managed: bool
    endpoint: str
    pid: int | None = None
    ui_url: str | None = None
    ui_up: bool | None = None


def start_stack(settings: Settings | None = None, *, migrate: bool = True) -> StackInfo:
    """Bring up PostgreSQL and Temporal (reusing running parts) and return where they answer."""
    settings = settings or get_settings()
    paths = StackPaths.of(settings)
    with _locked(paths):
        state = read_state(paths) | {"version": STATE_VERSION, "data_dir": str(paths.data_dir)}
        db_url, pg_pid = _up_postgres(settings, paths, state)
        write_state(paths, state)
        address, tm_pid = _up_temporal(settings, paths, state)
        write_state(paths, state)
    if migrate:
        run_migrations(db_url)
    return StackInfo(
        data_dir=paths.data_dir,
        database_url=db_url,
        temporal_address=address,
        temporal_namespace=settings.temporal_namespace,
        ui_url=state["temporal"]["ui_url"] if tm_pid else None,
        postgres_pid=pg_pid,
        temporal_pid=tm_pid,
    )


def stop_stack(settings: Settings | None = None) -> list[str]:
    """Stop the parts this data dir's ``dev up`` started; return the names of those stopped."""
    settings = settings or get_settings()
    paths = StackPaths.of(settings)
    stopped: list[str] = []
    with _locked(paths):
        state = read_state(paths)
        tm_markers = localtemporal.process_markers(paths)
        if _stop_part(state, "temporal", tm_markers, lambda pid: localtemporal.stop_dev_server(paths, pid)):
            stopped.append("temporal")
        write_state(paths, state)
        if _stop_part(state, "postgres", [str(paths.pgdata)], lambda pid: localpg.stop_embedded(paths.pgdata, pid)):
            stopped.append("postgresql")
        if {"temporal", "postgres"} & state.keys():
            write_state(paths, state)
        else:
            paths.state_file.unlink(missing_ok=True)
    return stopped


def stack_status(settings: Settings | None = None) -> list[PartStatus]:
    """Return the state of PostgreSQL and Temporal (with its Web UI when managed)."""
    settings = settings or get_settings()
    state = read_state(StackPaths.of(settings))
    return [_postgres_status(settings, state), _temporal_status(settings, state)]


def database_url_for(settings: Settings | None = None) -> str:
    """Return the SQLAlchemy URL of the configured database, or of the embedded one from ``stack.json``."""
    settings = settings or get_settings()
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    pg = read_state(StackPaths.of(settings)).get("postgres")
    if not pg:
        where = settings.resolved_data_dir
        raise StackError(f"no database: set DATABASE_URL or run `brokerflow dev up` (data dir {where})")
    return str(pg["url"])


def temporal_address_for(settings: Settings | None = None) -> str:
    """Return the Temporal frontend address (configured, or the local dev server's)."""
    return (settings or get_settings()).effective_temporal_address


def run_migrations(database_url: str) -> bool:
    """Upgrade the schema with ``persistence.migrate`` when that module exists; tell whether it ran."""
    try:
        from persistence import migrate  # type: ignore[attr-defined]
    except ModuleNotFoundError as exc:
        if exc.name in ("persistence", "persistence.migrate"):
            return False
        raise
    except ImportError:
        return False
    migrate.upgrade(database_url)
    return True


def redact_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    netloc = f"{user}:***@{host}" if password else f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def _up_postgres(settings: Settings, paths: StackPaths, state: dict[str, Any]) -> tuple[str, int | None]:
    """Check the external database or start/reuse the embedded one; update ``state``."""
    if settings.database_url:
        url = sqlalchemy_url(settings.database_url)
        if not localpg.ping(url):
            raise StackError(f"database at {redact_url(url)} does not answer SELECT 1")
        return url, None
    pg = state.get("postgres") or {}
    if is_our_process(pg.get("pid"), [str(paths.pgdata)]) and localpg.ping(pg["url"]):
        return str(pg["url"]), int(pg["pid"])
    server = localpg.start_embedded(paths.pgdata)
    if not localpg.ping(server.url):
        raise StackError(f"embedded PostgreSQL started but does not answer; see {paths.pgdata / 'log'}")
    state["postgres"] = {"pid": server.pid, "pgdata": str(paths.pgdata), "url": server.url}
    return server.url, server.pid


def _up_temporal(settings: Settings, paths: StackPaths, state: dict[str, Any]) -> tuple[str, int | None]:
    """Check the external Temporal or start/reuse the dev server; update ``state``."""
    address = settings.effective_temporal_address
    if not settings.manages_temporal:
        if not localtemporal.ping_temporal(address, settings.temporal_namespace, timeout=5.0):
            namespace = settings.temporal_namespace
            raise StackError(f"Temporal at {address} does not answer for namespace {namespace}")
        return address, None
    tm = state.get("temporal") or {}
    if is_our_process(tm.get("pid"), localtemporal.process_markers(paths)):
        if tm.get("address") != address:
            raise StackError(f"Temporal of {paths.data_dir} runs on {tm.get('address')}; `dev down` first")
        localtemporal.wait_ready(settings, paths, int(tm["pid"]))
        return address, int(tm["pid"])
    try:
        pid = localtemporal.start_dev_server(settings, paths)
    except localtemporal.TemporalStartError as exc:
        raise StackError(str(exc)) from exc
    state["temporal"] = {
        "pid": pid,
        "address": address,
        "namespace": settings.temporal_namespace,
        "ui_url": settings.temporal_ui_url,
        "db": str(paths.temporal_db),
        "log": str(paths.temporal_log),
    }
    return address, pid


def _stop_part(state: dict[str, Any], key: str, markers: list[str], stop: Callable[[int], bool]) -> bool:
    """Stop a recorded part if its process is still ours, then forget it; tell whether it was stopped."""
    part = state.get(key)
    if part is None:
        return False
    ours = is_our_process(part.get("pid"), markers)
    if ours and not stop(int(part["pid"])):
        raise StackError(f"{key} (pid {part['pid']}) did not stop")
    del state[key]
    return ours


def _postgres_status(settings: Settings, state: dict[str, Any]) -> PartStatus:
    pg = state.get("postgres")
    url = sqlalchemy_url(settings.database_url) if settings.database_url else (pg or {}).get("url")
    if url is None:
        return PartStatus("postgresql", up=False, managed=True, endpoint="embedded (not started)")
    pid = pg["pid"] if pg and not settings.database_url else None
    managed = settings.database_url is None
    alive_pid = pid if pid and is_alive(pid) else None
    return PartStatus("postgresql", localpg.ping(url), managed, redact_url(url), alive_pid)


def _temporal_status(settings: Settings, state: dict[str, Any]) -> PartStatus:
    address = settings.effective_temporal_address
    up = localtemporal.ping_temporal(address, settings.temporal_namespace)
    if not settings.manages_temporal:
        return PartStatus("temporal", up, managed=False, endpoint=address)
    pid = (state.get("temporal") or {}).get("pid")
    alive_pid = pid if pid and is_alive(pid) else None
    ui_up = localtemporal.ui_answers(settings.temporal_ui_port)
    return PartStatus("temporal", up, True, address, alive_pid, settings.temporal_ui_url, ui_up)


@contextmanager
def _locked(paths: StackPaths) -> Iterator[None]:
    """Serialise ``up`` and ``down`` on one data dir across processes."""
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    with (paths.data_dir / ".stack.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
