"""docker-compose.yml and Dockerfile: Docker is not on the build machines, so check them by parsing."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml

from simulator.cli import build_parser as simulator_parser
from starter.cli import app
from starter.search_attributes import SEARCH_ATTRIBUTES
from starter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BROKERFLOW_SERVICES = ("temporal-setup", "worker", "simulator", "codec-server")
_PINNED = re.compile(r"^[a-z0-9./_-]+:\d+\.\d+(\.\d+)?([.-][A-Za-z0-9.]+)*$")


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


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Return dependency -> condition (the short list syntax means service_started)."""
    deps = service.get("depends_on") or []
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """Return host port -> (host address, container port) for short-syntax port mappings."""
    mapping: dict[int, tuple[str, int]] = {}
    for port in service.get("ports", []):
        parts = str(port).split(":")
        host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
        mapping[int(parts[-2])] = (host_ip, int(parts[-1]))
    return mapping


def interpolate(value: str, required: str = "c2VjcmV0") -> str:
    """Compose's `${VAR:-default}` / `${VAR:?message}` with nothing set: the default, or `required`."""

    def one(match: re.Match[str]) -> str:
        op, arg = match.group(2), match.group(3) or ""
        return arg if op == ":-" else required if op == ":?" else ""

    return re.sub(r"\$\{(\w+)(:-|:\?)?([^}]*)\}", one, value)


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def cli_commands() -> set[str]:
    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_services_present(services: dict[str, Any]) -> None:
    assert {"postgresql", "temporal", "temporal-setup", "temporal-ui", *BROKERFLOW_SERVICES} <= services.keys()


def test_every_image_is_pinned_to_a_version(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        assert "${" not in image and not image.endswith(":latest"), name
        assert _PINNED.match(image), f"{name}: {image} is not pinned to a version"
    assert services["postgresql"]["image"].startswith("postgres:16.")
    assert services["temporal"]["image"].split(":")[0] in {"temporalio/auto-setup", "temporalio/server"}
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")


def test_our_services_are_built_from_the_repository_dockerfile(services: dict[str, Any]) -> None:
    images = {services[name]["image"] for name in BROKERFLOW_SERVICES}
    assert len(images) == 1  # one image, several commands
    for name in BROKERFLOW_SERVICES:
        build = services[name]["build"]
        context = build if isinstance(build, str) else build["context"]
        assert (ROOT / context / "Dockerfile").is_file()


def test_ports(services: dict[str, Any]) -> None:
    assert published(services["postgresql"]) == {5432: ("127.0.0.1", 5432)}
    assert published(services["temporal"]) == {7233: ("0.0.0.0", 7233)}
    assert published(services["temporal-ui"]) == {8233: ("0.0.0.0", 8080)}
    # brokerflow's own endpoints only on the host's loopback.
    assert published(services["worker"]) == {9464: ("127.0.0.1", 9464)}
    assert published(services["codec-server"]) == {8888: ("127.0.0.1", 8888)}
    assert published(services["simulator"]) == {8787: ("127.0.0.1", 8787)}


def test_health_checks_and_dependencies(services: dict[str, Any]) -> None:
    for name in ("postgresql", "temporal-ui", "worker", "simulator", "codec-server"):
        check = services[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"} and check["retries"] >= 3, name
    assert "pg_isready" in " ".join(services["postgresql"]["healthcheck"]["test"])
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits for {dependency}'s missing healthcheck"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart") == "no", f"{dependency} must be a one-shot"
    assert depends_on(services["temporal"]) == {"postgresql": "service_healthy"}
    assert depends_on(services["worker"])["postgresql"] == "service_healthy"
    assert depends_on(services["worker"])["temporal-setup"] == "service_completed_successfully"
    assert depends_on(services["temporal-ui"])["codec-server"] == "service_healthy"


def test_no_dependency_cycles(services: dict[str, Any]) -> None:
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for dependency in depends_on(services[name]):
                visit(dependency, (*path, name))
            done.add(name)

    for name in services:
        visit(name, ())


def test_temporal_uses_the_postgresql_service(services: dict[str, Any]) -> None:
    env, pg_env = env_of(services["temporal"]), env_of(services["postgresql"])
    assert env["POSTGRES_SEEDS"] == "postgresql" and env["DB"].startswith("postgres")
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert env_of(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_commands_are_ours(services: dict[str, Any]) -> None:
    commands = cli_commands()
    assert command_of(services["worker"]) == ["brokerflow", "worker"]
    for name in ("worker", "simulator", "codec-server"):
        argv = command_of(services[name])
        assert argv[0] == "brokerflow" and argv[1] in commands, f"{name}: `{' '.join(argv)}` is not our command"
    sim = simulator_parser().parse_args(command_of(services["simulator"])[2:])
    assert (sim.host, sim.port) == ("0.0.0.0", 8787)
    assert "BROKERFLOW_SIM_ADMIN_TOKEN" in env_of(services["simulator"])  # required off loopback
    codec = command_of(services["codec-server"])
    assert codec[codec.index("--port") + 1] == "8888" and codec[codec.index("--host") + 1] == "0.0.0.0"


def test_worker_env_points_at_the_services(services: dict[str, Any]) -> None:
    env, pg_env = env_of(services["worker"]), env_of(services["postgresql"])
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    url = urlsplit(env["DATABASE_URL"])
    assert url.scheme.startswith("postgresql") and (url.hostname, url.port) == ("postgresql", 5432)
    assert (url.username, url.password) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == pg_env["POSTGRES_DB"]


def test_worker_settings_parse_and_serve_metrics_on_the_published_port(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = env_of(services["worker"])
    for key, value in env.items():
        monkeypatch.setenv(key, interpolate(value))
    settings = Settings()
    assert (settings.metrics_host, settings.metrics_port) == ("0.0.0.0", 9464)
    assert settings.log_format == "json" and settings.task_queue == "brokerflow-orders"
    assert settings.database_url is not None and settings.temporal_address == "temporal:7233"
    assert "9464/metrics" in " ".join(services["worker"]["healthcheck"]["test"])


def test_secrets_come_from_the_environment_and_are_shared(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in env_of(service).items():
            if re.search(r"SECRET|TOKEN|API_KEY", key):
                assert value.startswith("${") and ":?" in value, f"{name}.{key} must be required from the env"
    assert env_of(services["worker"])["BROKERFLOW_SECRET_KEY"] == env_of(services["codec-server"])[
        "BROKERFLOW_SECRET_KEY"]  # the codec server decrypts what workers encrypt


def test_ui_uses_the_codec_server(services: dict[str, Any]) -> None:
    endpoint = urlsplit(env_of(services["temporal-ui"])["TEMPORAL_CODEC_ENDPOINT"])
    assert endpoint.hostname == "localhost" and endpoint.port in published(services["codec-server"])
    ui_port = next(iter(published(services["temporal-ui"])))
    origins = env_of(services["codec-server"])["BROKERFLOW_CODEC_CORS_ORIGINS"].split(",")
    assert f"http://localhost:{ui_port}" in origins


def test_search_attributes_are_registered(services: dict[str, Any]) -> None:
    setup = " ".join(services["temporal-setup"]["command"])
    assert "temporal operator search-attribute create" in setup and "temporal:7233" in setup
    for name in SEARCH_ATTRIBUTES:
        assert name in setup


# ---- Dockerfile lint ------------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_dockerfile_base_image_is_pinned() -> None:
    (base,) = [args for word, args in instructions() if word == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-bookworm)?", base), base


def test_dockerfile_installs_with_constraints_and_runs_the_worker_unprivileged() -> None:
    steps = instructions()
    words = [word for word, _ in steps]
    assert "ADD" not in words  # COPY only: nothing fetched from URLs at build time
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "pip install" in runs and "-c constraints.txt" in runs
    user = [args for word, args in steps if word == "USER"]
    assert user and user[-1] not in {"root", "0"} and words.index("USER") < words.index("CMD")
    assert json.loads(dict(steps)["CMD"]) == ["brokerflow", "worker"]
    assert dict(steps)["EXPOSE"].split() == ["9464"]
    env = dict(steps)["ENV"]
    assert "BROKERFLOW_METRICS_PORT=9464" in env and not re.search(r"SECRET|TOKEN", env)


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".brokerflow", ".env"} <= ignored
