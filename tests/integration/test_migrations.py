"""Alembic migrations on real PostgreSQL: the schema they build is the models', and they can be rerun."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from persistence import migrate
from persistence.database import create_sync
from persistence.tables import metadata
from persistence.testing import scratch_database

TABLES = {
    "account_reservations",
    "alembic_version",
    "alerts",
    "broker_accounts",
    "broker_connections",
    "broker_credentials",
    "connection_health_samples",
    "execution_reports",
    "order_fees",
    "order_status_history",
    "orders",
}
HEAD = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    """A second fresh, migrated database on the test server, for tests that tear the schema down."""
    with scratch_database(database_url) as url:
        yield url


def table_names(url: str) -> set[str]:
    engine = create_sync(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_exactly_the_schema(database_url: str) -> None:
    assert table_names(database_url) == TABLES
    assert migrate.current(database_url) == HEAD


def test_migration_matches_the_models(database_url: str) -> None:
    engine = create_sync(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == HEAD
    assert table_names(database_url) == TABLES


def test_downgrade_then_upgrade(scratch_url: str) -> None:
    migrate.downgrade(scratch_url)
    assert migrate.current(scratch_url) is None
    assert table_names(scratch_url) == {"alembic_version"}
    migrate.upgrade(scratch_url)
    assert table_names(scratch_url) == TABLES
    engine = create_sync(scratch_url)
    try:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%append_only'"
            assert connection.execute(text(query)).scalar() == 3  # status history, executions, fees
    finally:
        engine.dispose()


def test_concurrent_upgrades_serialise(scratch_url: str) -> None:
    migrate.downgrade(scratch_url)
    commands = [[sys.executable, "-m", "persistence.migrate", "--url", scratch_url]] * 3
    processes = [subprocess.Popen(command) for command in commands]
    assert [process.wait(timeout=60) for process in processes] == [0, 0, 0]
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(migrate.upgrade, [scratch_url] * 3))
    assert migrate.current(scratch_url) == HEAD


def test_command_line_upgrades_database_url(scratch_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": scratch_url.replace("postgresql+psycopg://", "postgresql://")}
    migrate.downgrade(scratch_url)
    run = [sys.executable, "-m", "persistence.migrate"]
    assert subprocess.run(run, env=env, check=False, timeout=60).returncode == 0
    current = subprocess.run([*run, "current"], env=env, capture_output=True, text=True, timeout=60)
    assert current.stdout.strip() == HEAD


def test_scripts_live_next_to_the_module() -> None:
    assert Path(migrate.__file__).resolve().parent / "migrations" == migrate.SCRIPT_LOCATION
    assert (migrate.SCRIPT_LOCATION / "env.py").is_file()
    assert (migrate.SCRIPT_LOCATION / "versions" / "0001_initial.py").is_file()
    assert (migrate.SCRIPT_LOCATION.parent / "alembic.ini").is_file()
