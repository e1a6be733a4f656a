"""Shared plumbing of the SQL repositories: sessions, upserts, row conversion.

The INSERT statements are built once per shape and run with the row as bind parameters: building one per
call (the `excluded` column proxies, a bind parameter per value) and hashing it into SQLAlchemy's compiled
cache key cost more worker CPU than the rest of the call (docs/benchmarks.md, issue 10).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

from sqlalchemy import Table, func
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import ReturningInsert
from sqlmodel import SQLModel

__all__ = ["SqlRepository", "plain", "row_values", "table_of", "upsert", "upsert_statement"]

# Built statements by shape. Shapes come from the code, but a guard binding varying values would add one per
# value, hence the bound.
_UPSERTS: dict[tuple[Table, str, tuple[str, ...], bool, Hashable], Insert] = {}
_INSERTS_ONCE: dict[tuple[Table, str], tuple[frozenset[str], ReturningInsert[Any]]] = {}
_MAX_SHAPES = 256
_UNCACHEABLE = object()


class SqlRepository:
    """A repository on an async session factory; every public call is one transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def _insert_once(self, table: Table, values: Mapping[str, Any], constraint: str,
                           session: AsyncSession | None = None) -> bool:
        """INSERT ... ON CONFLICT ON CONSTRAINT DO NOTHING; tell whether a row was inserted.

        In its own transaction, or in `session`'s when the caller has more to do in the same one."""
        stmt = _insert_once_statement(table, constraint, values)
        if session is not None:
            return (await session.execute(stmt, values)).first() is not None
        async with self._sessions.begin() as own:
            return (await own.execute(stmt, values)).first() is not None


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


def upsert_statement(table: Table, columns: Iterable[str], key: str, touch: bool = True, where: Any = None) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE of `columns` (and updated_at = now()), without values: run it as
    `session.execute(stmt, values)`. Built once per shape; with `where`, the update happens only when it holds
    (`excluded` names the row being written)."""
    names, guard = tuple(columns), _guard_key(where)
    shape = (table, key, names, touch, guard)
    cached = _UPSERTS.get(shape)
    if cached is not None:
        return cached
    stmt = insert(table)
    changes: dict[str, Any] = {name: stmt.excluded[name] for name in names if name != key}
    if touch:
        changes["updated_at"] = func.now()
    built = stmt.on_conflict_do_update(index_elements=[key], set_=changes, where=where)
    if guard is not _UNCACHEABLE:
        _keep(_UPSERTS, shape, built)
    return built


def _guard_key(where: Any) -> Hashable:
    """A guard's SQL structure and bound values: equal for guards alike, even when built per call (memoized by
    SQLAlchemy on a guard built once). `_UNCACHEABLE` for a construct SQLAlchemy cannot key."""
    if where is None:
        return None
    cache_key = where._generate_cache_key()
    if cache_key is None:
        return _UNCACHEABLE
    return cache_key.key, tuple(repr(bind.effective_value) for bind in cache_key.bindparams)


def upsert(table: Table, values: Mapping[str, Any], key: str, touch: bool = True, where: Any = None) -> Insert:
    """INSERT ... ON CONFLICT (key) DO UPDATE with every other column (and updated_at = now()), the values bound;
    with `where`, the update happens only when it holds. `upsert_statement` run with `values` costs less."""
    return upsert_statement(table, values, key, touch, where).values(**values)


def _insert_once_statement(table: Table, constraint: str, values: Mapping[str, Any]) -> ReturningInsert[Any]:
    """INSERT ... ON CONFLICT ON CONSTRAINT DO NOTHING RETURNING id, built once per (table, constraint)."""
    cached = _INSERTS_ONCE.get((table, constraint))
    if cached is None:
        built = insert(table).on_conflict_do_nothing(constraint=constraint).returning(table.c.id)
        cached = (frozenset(table.c.keys()), built)
        _keep(_INSERTS_ONCE, (table, constraint), cached)
    columns, stmt = cached
    if not values.keys() <= columns:  # as .values() would: parameters alone would drop unknown names silently
        raise CompileError(f"Unconsumed column names: {', '.join(sorted(set(values) - columns))}")
    return stmt


def _keep(cache: dict[Any, Any], shape: Any, entry: Any) -> None:
    if len(cache) >= _MAX_SHAPES:
        del cache[next(iter(cache))]  # the oldest
    cache[shape] = entry
