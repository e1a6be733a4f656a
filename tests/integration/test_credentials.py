"""Credentials at rest: encrypted with AES-GCM, bound to their connection, keyed from env or a 0600 file."""

from __future__ import annotations

import base64
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.broker_integration import BrokerConnection, ConfigurationError, ConnectionCredentials, NotFoundError
from persistence import CredentialCipher, CredentialDecryptionError, Repositories, load_key, open_repositories

SECRET = "sk-very-secret-1234567890"
TOKEN = "tok-also-secret-abcdef"


def credentials() -> ConnectionCredentials:
    return ConnectionCredentials(
        api_key="AKPUBLIC",
        api_secret=SECRET,
        refresh_token=TOKEN,
        token_expires_at=datetime(2026, 11, 21, tzinfo=UTC),
    )


async def saved(repositories: Repositories, connection_id: str = "alpaca-paper") -> None:
    await repositories.connections.save(BrokerConnection(connection_id=connection_id, broker="alpaca"))
    await repositories.connections.save_credentials(connection_id, credentials())


async def raw_rows(repositories: Repositories) -> str:
    assert repositories.engine is not None
    query = "SELECT string_agg(row_to_json(c)::text, ' ') FROM broker_credentials c"
    async with repositories.engine.connect() as connection:
        return str((await connection.execute(text(query))).scalar())


async def test_credentials_roundtrip(repositories: Repositories) -> None:
    await saved(repositories)
    loaded = await repositories.connections.get_credentials("alpaca-paper")
    assert loaded == credentials()
    assert loaded is not None and loaded.secret_values() == credentials().secret_values()
    assert await repositories.connections.get_credentials("unknown") is None


async def test_secrets_are_not_stored_in_clear(repositories: Repositories) -> None:
    await saved(repositories)
    raw = await raw_rows(repositories)
    for clear in (SECRET, TOKEN, "AKPUBLIC"):
        assert clear not in raw
        assert clear.encode().hex() not in raw  # bytea is rendered as hex


async def test_saving_again_replaces_the_credentials(repositories: Repositories) -> None:
    await saved(repositories)
    newer = ConnectionCredentials(access_token="tok-2")
    await repositories.connections.save_credentials("alpaca-paper", newer)
    assert await repositories.connections.get_credentials("alpaca-paper") == newer


async def test_credentials_need_a_registered_connection(repositories: Repositories) -> None:
    with pytest.raises(NotFoundError):
        await repositories.connections.save_credentials("nobody", credentials())


async def test_another_key_cannot_read_them(repositories: Repositories) -> None:
    await saved(repositories)
    assert repositories.engine is not None
    stranger = Repositories.from_engine(repositories.engine, CredentialCipher(bytes(32)))
    with pytest.raises(CredentialDecryptionError, match="encrypted with key"):
        await stranger.connections.get_credentials("alpaca-paper")


async def test_ciphertext_is_bound_to_its_connection(repositories: Repositories) -> None:
    await saved(repositories, "first")
    await repositories.connections.save(BrokerConnection(connection_id="second", broker="alpaca"))
    assert repositories.engine is not None
    async with repositories.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO broker_credentials (connection_id, ciphertext, key_id) "
                "SELECT 'second', ciphertext, key_id FROM broker_credentials WHERE connection_id = 'first'"
            )
        )
    with pytest.raises(CredentialDecryptionError, match="cannot be decrypted"):
        await repositories.connections.get_credentials("second")


def test_key_file_is_created_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERFLOW_SECRET_KEY", raising=False)
    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path / "data"))
    key = load_key()
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_key() == key and load_key(data_dir=tmp_path / "data") == key
    assert load_key(data_dir=tmp_path / "elsewhere") != key


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = bytes(range(32))
    monkeypatch.setenv("BROKERFLOW_SECRET_KEY", base64.b64encode(raw).decode())
    assert load_key(data_dir=tmp_path) == raw
    assert not (tmp_path / "secret.key").exists()
    monkeypatch.setenv("BROKERFLOW_SECRET_KEY", "dG9vLXNob3J0")
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_key()


async def test_open_repositories_uses_the_key_file(
    database_url: str, repositories: Repositories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BROKERFLOW_SECRET_KEY", raising=False)
    async with await open_repositories(database_url, data_dir=tmp_path) as first:
        await saved(first)
    async with await open_repositories(database_url, data_dir=tmp_path) as second:
        assert await second.connections.get_credentials("alpaca-paper") == credentials()
    assert "CredentialCipher(key_id=" in repr(CredentialCipher(load_key(tmp_path)))


async def test_additional_account_keys_roundtrip_encrypted(repositories: Repositories) -> None:
    from domain.broker_integration.value_objects import AccountKey

    await repositories.connections.save(BrokerConnection(connection_id="multi", broker="alpaca"))
    second = AccountKey(api_key="AK2", api_secret="SECOND-S3CRET")
    more = credentials().model_copy(update={"additional_keys": (second,)})
    await repositories.connections.save_credentials("multi", more)
    loaded = await repositories.connections.get_credentials("multi")
    assert loaded == more and loaded is not None
    assert loaded.additional_keys[0].api_secret.get_secret_value() == "SECOND-S3CRET"
    assert "SECOND-S3CRET" not in await raw_rows(repositories)
