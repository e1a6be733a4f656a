"""Schema migrations from Python or the shell: `python -m persistence.migrate [upgrade|downgrade|current]`.

The Alembic scripts are located next to this module, so this works from an installed wheel too.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.pool import NullPool

from .database import create_sync

__all__ = ["SCRIPT_LOCATION", "alembic_config", "current", "downgrade", "main", "upgrade"]

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"
# Alembic keeps its running context in module globals: one migration per process at a time.
# Across processes, env.py serialises upgrades with a PostgreSQL advisory lock.
_IN_PROCESS = threading.Lock()


def alembic_config() -> Config:
    """Return an Alembic config pointing at the packaged migration scripts."""
    config = Config()
    # ConfigParser interpolates '%', so escape it in the path.
    config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
    return config


def _run(database_url: str, action: str, revision: str) -> None:
    engine = create_sync(database_url, poolclass=NullPool)
    try:
        with _IN_PROCESS, engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade the schema of `database_url` to `revision` (idempotent, safe to run concurrently)."""
    _run(database_url, "upgrade", revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    """Downgrade the schema of `database_url` to `revision` (default: drop everything)."""
    _run(database_url, "downgrade", revision)


def current(database_url: str) -> str | None:
    """Return the schema revision of `database_url` (None before the first upgrade)."""
    engine = create_sync(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m persistence.migrate", description=__doc__)
    parser.add_argument("action", nargs="?", default="upgrade", choices=("upgrade", "downgrade", "current"))
    parser.add_argument("revision", nargs="?", help="target revision (upgrade: head, downgrade: base)")
    parser.add_argument("--url", help="database URL (default: env BROKERFLOW_DATABASE_URL or DATABASE_URL)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parse(argv)
    url = args.url or os.environ.get("BROKERFLOW_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not url:
        print("no database: set DATABASE_URL or pass --url", file=sys.stderr)
        return 2
    if args.action == "current":
        print(current(url) or "(empty)")
    elif args.action == "downgrade":
        downgrade(url, args.revision or "base")
    else:
        upgrade(url, args.revision or "head")
    return 0


if __name__ == "__main__":
    sys.exit(main())
