"""Hostile bodies and headers to the codec server: a 4xx with a reason, never a 500, never a payload unasked."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security.codec import ENCODING, KEY_ID_METADATA, EncryptionCodec, parse_keyring
from security.codec_server import CodecServerSettings, running_codec_server

TOKEN = "fuzz-token"
CODEC = EncryptionCodec(parse_keyring(f"k1:{base64.b64encode(bytes(range(32))).decode()}"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10)
b64 = st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode())
payloads = st.fixed_dictionaries({
    "metadata": st.dictionaries(st.sampled_from(["encoding", KEY_ID_METADATA, "x"]),
                                st.sampled_from([base64.b64encode(ENCODING).decode(), base64.b64encode(b"k1").decode(),
                                                 base64.b64encode(b"json/plain").decode()]) | b64, max_size=3),
    "data": b64 | json_values,
}) | json_values
bodies = st.one_of(
    st.fixed_dictionaries({"payloads": st.lists(payloads, max_size=3)}).map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=100),
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with running_codec_server(CodecServerSettings(CODEC, TOKEN, ("http://localhost:8233",), port=0)) as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        yield http


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=bodies, path=st.sampled_from(["/decode", "/encode"]), authorized=st.booleans())
def test_any_body_gets_an_answer_not_a_crash(client: httpx.Client, body: bytes, path: str, authorized: bool) -> None:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {TOKEN}"} if authorized else {})
    response = client.post(path, content=body, headers=headers)
    assert response.status_code in ((200, 400) if authorized else (401,)), response.text
    answer: Any = response.json()
    if response.status_code == 200:
        assert isinstance(answer["payloads"], list)
    else:
        assert answer["error"] and "payloads" not in answer
