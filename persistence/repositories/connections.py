"""BrokerConnectionRepository on PostgreSQL: connections, and their credentials encrypted at rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg.errors
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.broker_integration import BrokerConnection, ConnectionCredentials, NotFoundError
from persistence.crypto import CredentialCipher, CredentialDecryptionError
from persistence.tables import BrokerConnectionRow, BrokerCredentialsRow

from ._base import SqlRepository, plain, row_values, table_of, upsert

__all__ = ["SqlBrokerConnectionRepository"]

_CONNECTIONS = table_of(BrokerConnectionRow)
_CREDENTIALS = table_of(BrokerCredentialsRow)


def _connection_values(connection: BrokerConnection) -> dict[str, Any]:
    values = {key: plain(value) for key, value in connection.model_dump(exclude={"history"}).items()}
    values["history"] = [event.model_dump(mode="json") for event in connection.history]
    return values


def _connection(row: Any) -> BrokerConnection:
    return BrokerConnection.model_validate(row_values(row, drop=("created_at", "updated_at")))


class SqlBrokerConnectionRepository(SqlRepository):
    """Connections in `broker_connections`; credentials AES-GCM encrypted in `broker_credentials`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: CredentialCipher) -> None:
        super().__init__(sessions)
        self._cipher = cipher

    async def get(self, connection_id: str) -> BrokerConnection | None:
        """Return the connection, or None."""
        async with self._sessions() as session:
            query = select(_CONNECTIONS).where(_CONNECTIONS.c.connection_id == connection_id)
            row = (await session.execute(query)).mappings().first()
        return None if row is None else _connection(row)

    async def save(self, connection: BrokerConnection) -> None:
        """Insert or update the connection."""
        async with self._sessions.begin() as session:
            await session.execute(upsert(_CONNECTIONS, _connection_values(connection), "connection_id"))

    async def list(self) -> Sequence[BrokerConnection]:
        """Return every connection, by id."""
        async with self._sessions() as session:
            query = select(_CONNECTIONS).order_by(_CONNECTIONS.c.connection_id)
            rows = (await session.execute(query)).mappings().all()
        return [_connection(row) for row in rows]

    async def save_credentials(self, connection_id: str, credentials: ConnectionCredentials) -> None:
        """Encrypt and store the credentials of a saved connection (NotFoundError otherwise)."""
        values = {
            "connection_id": connection_id,
            "ciphertext": self._cipher.encrypt(connection_id, credentials),
            "key_id": self._cipher.key_id,
            "token_expires_at": credentials.token_expires_at,
        }
        try:
            async with self._sessions.begin() as session:
                await session.execute(upsert(_CREDENTIALS, values, "connection_id"))
        except IntegrityError as exc:
            if isinstance(exc.orig, psycopg.errors.ForeignKeyViolation):
                raise NotFoundError(f"connection {connection_id!r} is not registered") from None
            raise

    async def get_credentials(self, connection_id: str) -> ConnectionCredentials | None:
        """Return the decrypted credentials, or None when none are stored."""
        async with self._sessions() as session:
            query = select(_CREDENTIALS.c.ciphertext, _CREDENTIALS.c.key_id).where(
                _CREDENTIALS.c.connection_id == connection_id
            )
            row = (await session.execute(query)).first()
        if row is None:
            return None
        if row.key_id != self._cipher.key_id:
            raise CredentialDecryptionError(
                f"credentials of connection {connection_id} were encrypted with key {row.key_id}, "
                f"the configured key is {self._cipher.key_id}"
            )
        return self._cipher.decrypt(connection_id, bytes(row.ciphertext))
