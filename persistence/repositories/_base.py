"""Shared plumbing of the SQL repositories: sessions, upserts, row conversion."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import SQLModel

__all__ = ["SqlRepository", "plain", "row_values", "table_of", "upsert"]


class SqlRepository:
    """A repository on an async session factory; every public call is one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _insert_once(self, table: Table, values: Mapping[str, Any], constraint: str,
                           session: AsyncSession | None = None) -> bool:
        """INSERT ... ON CONFLICT ON CONSTRAINT DO NOTHING; tell whether a row was inserted.

        In its own transaction, or in `session`'s when the caller has more to do in the same one."""
        stmt = insert(table).values(**values).on_conflict_do_nothing(constraint=constraint).returning(table.c.id)
        if session is not None:
            return (await session.execute(stmt)).first() is not None
        async with self._sessions.begin() as own:
            return (await own.execute(stmt)).first() is not None


def table_of(model: type[SQLModel]) -> Table:
    """Return the SQLAlchemy table of a SQLModel table class."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def plain(value: Any) -> Any:
    """Return enum members as their value, anything else unchanged."""
    return value.value if isinstance(value, Enum) else value


def row_values(row: Mapping[Any, Any], drop: Iterable[str] = ()) -> dict[str, Any]:
    """Return a row as a dict without `drop` columns, datetimes converted to UTC."""
    skip = set(drop)
    return {
        key: value.astimezone(UTC) if isinstance(value, datetime) else value
        for key, value in row.items()
        if key not in skip
    }


def upsert(table: Table, values: Mapping[str, Any], key: str, touch: bool = True, where: Any = None) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE with every other column (and updated_at = now()); with `where`,
    the update happens only when it holds (`excluded` names the row being written)."""
    stmt = insert(table).values(**values)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in values if name != key}
    if touch:
        changes["updated_at"] = func.now()
    return stmt.on_conflict_do_update(index_elements=[key], set_=changes, where=where)
