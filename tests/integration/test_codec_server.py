"""`brokerflow codec-server`: the Temporal codec protocol behind a bearer token, CORS for the Web UI only."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from security.codec import ENCODING, EncryptionCodec, data_converter, parse_keyring
from security.codec_server import CodecServerConfigError, CodecServerSettings, resolve, running_codec_server
from starter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-abc"
UI = "http://localhost:8233"
CODEC = EncryptionCodec(parse_keyring(f"k1:{base64.b64encode(bytes(32)).decode()}"))


@pytest.fixture
def server() -> Iterator[str]:
    with running_codec_server(CodecServerSettings(CODEC, TOKEN, (UI,), port=0)) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as http:
        yield http


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_ui_decodes_what_workers_encoded(client: httpx.Client) -> None:
    [payload] = await data_converter(CODEC).encode([{"symbol": "AAPL", "qty": "10"}])
    wire = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                          "data": base64.b64encode(payload.data).decode()}]}
    response = client.post("/decode", json=wire, headers=auth() | {"Origin": UI, "X-Namespace": "default"})
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == UI
    [decoded] = response.json()["payloads"]
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
    assert base64.b64decode(decoded["data"]) == b'{"symbol":"AAPL","qty":"10"}'

    encoded = client.post("/encode", json={"payloads": [decoded]}, headers=auth()).json()["payloads"]
    assert base64.b64decode(encoded[0]["metadata"]["encoding"]) == ENCODING
    assert client.post("/decode", json={"payloads": encoded}, headers=auth()).json()["payloads"] == [decoded]


@pytest.mark.parametrize("headers", [{}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": "Basic x"}])
def test_no_valid_bearer_token_no_payloads(client: httpx.Client, headers: dict[str, str]) -> None:
    for path in ("/decode", "/encode"):
        response = client.post(path, json={"payloads": []}, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert "payloads" not in response.json()


async def test_a_browser_signs_in_once_and_the_ui_decodes_with_its_cookie(client: httpx.Client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "Not signed in" in page.text and page.headers["x-frame-options"] == "DENY"
    wrong = client.post("/login", content=b"token=guess", headers={"Content-Type": "application/x-www-form-urlencoded"},
                        follow_redirects=False)
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert client.post("/decode", json={"payloads": []}).status_code == 401
    signed = client.post("/login", content=f"token={TOKEN}".encode(),
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    cookie = signed.headers["set-cookie"]
    assert signed.status_code == 303 and TOKEN not in cookie
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "Signed in" in client.get("/").text
    [payload] = await data_converter(CODEC).encode(["hello"])
    wire = {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                          "data": base64.b64encode(payload.data).decode()}]}
    decoded = client.post("/decode", json=wire, headers={"Origin": UI})  # the cookie only, as the UI sends it
    assert decoded.status_code == 200 and base64.b64decode(decoded.json()["payloads"][0]["data"]) == b'"hello"'
    with httpx.Client(base_url=str(client.base_url), cookies={"brokerflow_codec_session": "0" * 64}) as forged:
        assert forged.post("/decode", json=wire).status_code == 401


def test_cors_admits_the_web_ui_and_no_other_origin(client: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type,x-namespace"}
    allowed = client.options("/decode", headers=preflight | {"Origin": UI})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == UI
    refused = client.options("/decode", headers=preflight | {"Origin": "http://evil.example"})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    simple = client.post("/decode", json={"payloads": []}, headers=auth() | {"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"payloads": 3}', b'{"payloads": [{"data": 5}]}',
                                  b'{"payloads": [{"metadata": {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="},'
                                  b' "data": "AAAA"}]}'])
def test_bad_bodies_get_a_400_with_a_reason(client: httpx.Client, body: bytes) -> None:
    response = client.post("/decode", content=body, headers=auth() | {"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]


def test_oversized_bodies_are_refused_unread(client: httpx.Client) -> None:
    big = b'{"payloads": ["' + b"x" * (8 * 1024 * 1024) + b'"]}'
    response = client.post("/decode", content=big, headers=auth() | {"Content-Type": "application/json"})
    assert response.status_code == 413


def test_resolve_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(CodecServerConfigError, match="BROKERFLOW_CODEC_TOKEN"):
        resolve(settings)
    generated = resolve(settings, generate_token=True)
    assert generated.generated_token and len(generated.token) >= 32 and generated.token not in repr(generated)
    assert (generated.host, generated.port, generated.origins) == (
        "127.0.0.1", 8888, ("http://localhost:8233", "http://127.0.0.1:8233"))
    with pytest.raises(CodecServerConfigError, match="disabled"):
        resolve(settings.model_copy(update={"codec_enabled": False}), generate_token=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BROKERFLOW_")}
    return env | {"BROKERFLOW_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)} | extra


def test_cli_without_a_token_exits_1_with_the_reason(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "starter.cli", "codec-server"], cwd=ROOT, env=cli_env(tmp_path),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "BROKERFLOW_CODEC_TOKEN" in run.stderr and "Traceback" not in run.stderr


def test_cli_serves_on_loopback_with_the_configured_token(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(tmp_path, BROKERFLOW_CODEC_TOKEN=TOKEN, BROKERFLOW_CODEC_SERVER_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "starter.cli", "codec-server"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/decode"
        deadline = time.monotonic() + 30
        while True:
            try:
                refused = httpx.post(url, json={"payloads": []}, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "codec server did not start"
                time.sleep(0.2)
        assert refused.status_code == 401
        ok = httpx.post(url, json={"payloads": []}, headers=auth(), timeout=5)
        assert ok.status_code == 200 and ok.json() == {"payloads": []}
        assert _listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert TOKEN not in output


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of TCP sockets listening on `port` (from /proc/net/tcp, IPv4)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found
