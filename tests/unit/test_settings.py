"""Settings: env prefix, plain DATABASE_URL / TEMPORAL_ADDRESS, URL helpers, dev server flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from starter.devstack import redact_url
from starter.localtemporal import dev_server_command
from starter.paths import StackPaths
from starter.search_attributes import SEARCH_ATTRIBUTE_KEYS, SEARCH_ATTRIBUTES, dev_server_flags
from starter.settings import Settings, get_settings, libpq_url, sqlalchemy_url

PLAIN_VARS = ("DATABASE_URL", "TEMPORAL_ADDRESS")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from an environment without brokerflow variables."""
    import os

    for name in list(os.environ):
        if name.startswith("BROKERFLOW_") or name in PLAIN_VARS:
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path("./.brokerflow")
    assert settings.database_url is None and settings.manages_postgres
    assert settings.temporal_address is None and settings.manages_temporal
    assert (settings.temporal_namespace, settings.task_queue) == ("default", "brokerflow-orders")
    assert (settings.temporal_port, settings.temporal_ui_port, settings.simulator_port) == (7233, 8233, 8787)
    assert settings.secret_key is None
    assert settings.effective_temporal_address == "127.0.0.1:7233"
    assert settings.temporal_ui_url == "http://localhost:8233"


def test_prefixed_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROKERFLOW_TASK_QUEUE", "q1")
    monkeypatch.setenv("BROKERFLOW_TEMPORAL_PORT", "17233")
    monkeypatch.setenv("BROKERFLOW_TEMPORAL_UI_PORT", "18233")
    monkeypatch.setenv("BROKERFLOW_MAX_CONCURRENT_ACTIVITIES", "7")
    monkeypatch.setenv("TASK_QUEUE", "not-this-one")
    settings = Settings()
    assert settings.resolved_data_dir == tmp_path.resolve()
    assert settings.task_queue == "q1"
    assert settings.effective_temporal_address == "127.0.0.1:17233"
    assert settings.temporal_ui_url == "http://localhost:18233"
    assert settings.max_concurrent_activities == 7


def test_plain_database_url_and_temporal_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/x")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal:7233")
    settings = Settings()
    assert settings.database_url == "postgresql://u:p@db:5432/x"
    assert not settings.manages_postgres
    assert settings.effective_temporal_address == "temporal:7233"
    assert settings.temporal_ui_url is None


def test_prefixed_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://plain/x")
    monkeypatch.setenv("BROKERFLOW_DATABASE_URL", "postgresql://prefixed/x")
    assert Settings().database_url == "postgresql://prefixed/x"


def test_empty_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    monkeypatch.setenv("BROKERFLOW_SECRET_KEY", "")
    settings = Settings()
    assert settings.database_url is None and settings.secret_key is None


def test_secret_key_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKERFLOW_SECRET_KEY", "s3cr3t")
    settings = Settings()
    assert settings.secret_key is not None and settings.secret_key.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)


@pytest.mark.parametrize("name", ["BROKERFLOW_TEMPORAL_PORT", "BROKERFLOW_MAX_CONCURRENT_WORKFLOW_TASKS"])
def test_invalid_numbers_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "0")
    with pytest.raises(ValidationError):
        Settings()


def test_get_settings_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("BROKERFLOW_TASK_QUEUE", "first")
    first = get_settings()
    monkeypatch.setenv("BROKERFLOW_TASK_QUEUE", "second")
    assert get_settings() is first and first.task_queue == "first"
    get_settings.cache_clear()
    assert get_settings().task_queue == "second"
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://postgres:@/postgres?host=/tmp/x", "postgresql+psycopg://postgres:@/postgres?host=/tmp/x"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_sqlalchemy_url(url: str, expected: str) -> None:
    assert sqlalchemy_url(url) == expected


def test_libpq_url_undoes_the_driver_scheme() -> None:
    assert libpq_url(sqlalchemy_url("postgresql://u@h/db")) == "postgresql://u@h/db"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql+psycopg://postgres:@/brokerflow?host=/x", "postgresql+psycopg://postgres@/brokerflow?host=/x"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_search_attributes_and_flags() -> None:
    assert set(SEARCH_ATTRIBUTES) == {
        "OrderStatus", "Symbol", "Broker", "ConnectionId", "OrderSide", "OrderType", "ConnectionStatus",
    }  # fmt: skip
    assert [key.name for key in SEARCH_ATTRIBUTE_KEYS] == list(SEARCH_ATTRIBUTES)
    flags = dev_server_flags()
    assert flags[::2] == ["--search-attribute"] * len(SEARCH_ATTRIBUTES)
    assert flags[1::2] == [f"{name}=Keyword" for name in SEARCH_ATTRIBUTES]


def test_dev_server_command(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, temporal_port=17000, temporal_ui_port=18000, temporal_namespace="ns")
    cmd = dev_server_command(settings, StackPaths.of(settings))
    assert cmd[1:3] == ["server", "start-dev"] and Path(cmd[0]).name == "temporal"
    joined = " ".join(cmd)
    for fragment in (
        f"--db-filename {tmp_path.resolve() / 'temporal.db'}",
        "--sqlite-pragma journal_mode=wal",
        "--sqlite-pragma synchronous=normal",
        "--port 17000",
        "--ui-port 18000",
        "--log-level error",
        "--namespace ns",
        "--search-attribute OrderStatus=Keyword",
    ):
        assert fragment in joined


def test_the_worker_caches_ten_thousand_workflows_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from starter.settings import MAX_CACHED_WORKFLOWS

    assert Settings().max_cached_workflows == MAX_CACHED_WORKFLOWS == 10_000
    monkeypatch.setenv("BROKERFLOW_MAX_CACHED_WORKFLOWS", "2500")
    assert Settings().max_cached_workflows == 2500
    monkeypatch.setenv("BROKERFLOW_MAX_CACHED_WORKFLOWS", "-1")
    with pytest.raises(ValidationError):
        Settings()
