"""The CLI's way into the database: migrated first, failures turned into a message and exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError

from domain.broker_integration import ConfigurationError
from persistence import Repositories, open_repositories
from starter.devstack import StackError, database_url_for, redact_url, run_migrations
from starter.output import fail
from starter.settings import Settings

__all__ = ["open_store"]


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Repositories]:
    """Open the repositories of the configured database (migrated first); exit 1 when unreachable."""
    try:
        url = database_url_for(settings)
        await asyncio.to_thread(run_migrations, url)
        key = settings.secret_key.get_secret_value() if settings.secret_key else None
        repositories = await open_repositories(url, data_dir=settings.resolved_data_dir, secret_key=key)
    except StackError as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"cannot use the database at {redact_url(database_url_for(settings))}: {exc.__class__.__name__}")
    except ConfigurationError as exc:
        fail(str(exc))
    async with repositories:
        yield repositories
