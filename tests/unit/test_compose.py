"""docker-compose.yml and Dockerfile: Docker is not on the build machines, so check them by parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from starter.search_attributes import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(compose["services"])


def env_of(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's environment as a dict (compose allows a list of KEY=VALUE too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> set[str]:
    deps = service.get("depends_on") or []
    return set(deps)


def published(service: dict[str, Any]) -> dict[int, int]:
    """Return host port -> container port for a service's short-syntax port mappings."""
    mapping: dict[int, int] = {}
    for port in service.get("ports", []):
        host, container = str(port).rsplit(":", 1) if ":" in str(port) else (port, port)
        mapping[int(str(host).rsplit(":", 1)[-1])] = int(container)
    return mapping


def test_services_present(services: dict[str, Any]) -> None:
    assert {"postgresql", "temporal", "temporal-ui", "worker"} <= services.keys()


def test_images_and_ports(services: dict[str, Any]) -> None:
    assert services["postgresql"]["image"].startswith("postgres:16")
    assert published(services["postgresql"]) == {5432: 5432}
    assert services["temporal"]["image"].split(":")[0] in {"temporalio/auto-setup", "temporalio/server"}
    assert published(services["temporal"]) == {7233: 7233}
    assert services["temporal-ui"]["image"].startswith("temporalio/ui")
    assert list(published(services["temporal-ui"]).values()) == [8080]


def test_temporal_uses_the_postgresql_service(services: dict[str, Any]) -> None:
    env, pg_env = env_of(services["temporal"]), env_of(services["postgresql"])
    assert env["POSTGRES_SEEDS"] == "postgresql" and env["DB"].startswith("postgres")
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert "postgresql" in depends_on(services["temporal"])
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_worker_command_and_build(services: dict[str, Any]) -> None:
    worker = services["worker"]
    command = worker["command"]
    assert (command.split() if isinstance(command, str) else command) == ["brokerflow", "worker"]
    context = worker["build"] if isinstance(worker["build"], str) else worker["build"]["context"]
    assert (ROOT / context / "Dockerfile").is_file()


def test_worker_env_points_at_the_services(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env, pg_env = env_of(worker), env_of(services["postgresql"])
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    url = urlsplit(env["DATABASE_URL"])
    assert url.scheme.startswith("postgresql") and (url.hostname, url.port) == ("postgresql", 5432)
    assert (url.username, url.password) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == pg_env["POSTGRES_DB"]
    assert {"postgresql", "temporal"} <= depends_on(worker)


def test_search_attributes_are_registered(services: dict[str, Any]) -> None:
    setup = " ".join(services["temporal-setup"]["command"])
    assert "temporal operator search-attribute create" in setup and "temporal:7233" in setup
    for name in SEARCH_ATTRIBUTES:
        assert name in setup
    assert "temporal-setup" in depends_on(services["worker"])


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in text
    assert "pip install" in text and "-c constraints.txt" in text
    assert '"brokerflow", "worker"' in text
