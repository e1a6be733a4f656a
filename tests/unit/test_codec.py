"""The payload codec: encrypted payloads, key ids, rotation, tampering, failures, settings."""

from __future__ import annotations

import base64
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from activities.models import AmendRequest, OrderRequest
from security.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecKeyError,
    EncryptionCodec,
    PayloadDecryptionError,
    UnknownCodecKeyError,
    codec_from_settings,
    data_converter,
    parse_keyring,
)
from starter.settings import Settings


def b64key(fill: int) -> str:
    return base64.b64encode(bytes([fill]) * 32).decode()


OLD = parse_keyring(f"old:{b64key(1)}")
ROTATED = parse_keyring(f"new:{b64key(2)},old:{b64key(1)}")
ORDER = OrderRequest(client_order_id="c-1", symbol="AAPL", side="BUY", quantity=Decimal("10"),
                     order_type="LIMIT", limit_price=Decimal("150.25"), account_id="PA-ACCOUNT-123")


async def encode(codec: EncryptionCodec, value: object) -> list[Payload]:
    return await data_converter(codec).encode([value])


async def test_payloads_leave_encrypted_with_their_key_id_and_come_back_equal() -> None:
    codec = EncryptionCodec(OLD)
    [payload] = await encode(codec, ORDER)
    assert payload.metadata["encoding"] == ENCODING and payload.metadata[KEY_ID_METADATA] == b"old"
    assert b"AAPL" not in payload.data and b"PA-ACCOUNT-123" not in payload.data and b"150.25" not in payload.data
    [decoded] = await data_converter(codec).decode([payload], [OrderRequest])
    assert decoded == ORDER


async def test_two_encodings_of_the_same_value_differ() -> None:
    codec = EncryptionCodec(OLD)
    first, second = (await encode(codec, ORDER))[0], (await encode(codec, ORDER))[0]
    assert first.data != second.data  # a fresh nonce each time


async def test_rotation_new_key_encrypts_old_key_still_decrypts() -> None:
    [old_payload] = await encode(EncryptionCodec(OLD), ORDER)
    rotated = EncryptionCodec(ROTATED)
    [new_payload] = await encode(rotated, ORDER)
    assert new_payload.metadata[KEY_ID_METADATA] == b"new"
    assert await data_converter(rotated).decode([old_payload, new_payload], [OrderRequest, OrderRequest]) == [
        ORDER, ORDER]


async def test_a_key_id_the_keyring_lacks_is_a_clear_error() -> None:
    [payload] = await encode(EncryptionCodec(ROTATED), ORDER)
    with pytest.raises(UnknownCodecKeyError, match="'new'"):
        await EncryptionCodec(OLD).decode([payload])


async def test_tampered_or_relabelled_payloads_are_refused() -> None:
    codec = EncryptionCodec(ROTATED)
    [payload] = await encode(codec, ORDER)
    flipped = Payload(metadata=payload.metadata, data=payload.data[:-1] + bytes([payload.data[-1] ^ 1]))
    with pytest.raises(PayloadDecryptionError):
        await codec.decode([flipped])
    for short in (b"", b"abc", payload.data[:12]):
        with pytest.raises(PayloadDecryptionError):
            await codec.decode([Payload(metadata=payload.metadata, data=short)])
    relabelled = Payload(metadata={**payload.metadata, KEY_ID_METADATA: b"old"}, data=payload.data)
    with pytest.raises(PayloadDecryptionError):  # the key id is authenticated data
        await codec.decode([relabelled])


async def test_payloads_written_before_the_codec_still_read() -> None:
    [plain] = await data_converter(None).encode([ORDER])
    [decoded] = await data_converter(EncryptionCodec(OLD)).decode([plain], [OrderRequest])
    assert decoded == ORDER


async def test_failure_messages_and_stack_traces_are_encoded() -> None:
    converter = data_converter(EncryptionCodec(OLD))
    try:
        raise ApplicationError("account PA-ACCOUNT-123 refused", "SIMSECRET", type="Rejected")
    except ApplicationError as error:
        failure = Failure()
        await converter.encode_failure(error, failure)
    raw = failure.SerializeToString()
    assert failure.message == "Encoded failure" and not failure.stack_trace
    assert b"PA-ACCOUNT-123" not in raw and b"SIMSECRET" not in raw
    decoded = await converter.decode_failure(failure)
    assert isinstance(decoded, ApplicationError) and decoded.message == "account PA-ACCOUNT-123 refused"
    assert decoded.details == ("SIMSECRET",)


@pytest.mark.parametrize("text, problem", [
    ("nocolon", "entry 1"),
    (f"a:{b64key(1)},", "entry 2"),
    ("a:!!!not-base64!!!", "not base64"),
    (f"a:{base64.b64encode(b'short').decode()}", "32 bytes"),
    (f"a:{b64key(1)},a:{b64key(2)}", "twice"),
    (f"bad id:{b64key(1)}", "key id"),
])
def test_malformed_keyrings_are_refused_without_echoing_keys(text: str, problem: str) -> None:
    with pytest.raises(CodecKeyError, match=problem) as caught:
        parse_keyring(text)
    assert b64key(1) not in str(caught.value) and b64key(1) not in repr(OLD)


def test_settings_turn_the_codec_off() -> None:
    assert codec_from_settings(Settings(codec_enabled=False)) is None


def test_processes_sharing_the_secret_key_share_the_codec(tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    one = codec_from_settings(Settings(data_dir=tmp_path / "a", secret_key=secret))
    two = codec_from_settings(Settings(data_dir=tmp_path / "b", secret_key=secret))
    other = codec_from_settings(Settings(data_dir=tmp_path / "c", secret_key=base64.b64encode(os.urandom(32))))
    assert one is not None and two is not None and other is not None
    assert one.keyring.active == two.keyring.active != other.keyring.active
    assert two.decrypt(one.encrypt(Payload(data=b"x"))).data == b"x"


def test_explicit_keys_lead_and_the_derived_key_still_decrypts(tmp_path: Path) -> None:
    secret = base64.b64encode(os.urandom(32)).decode()
    before = codec_from_settings(Settings(data_dir=tmp_path, secret_key=secret))
    after = codec_from_settings(Settings(data_dir=tmp_path, secret_key=secret, codec_keys=f"k2:{b64key(7)}"))
    assert before is not None and after is not None and after.keyring.active == "k2"
    assert after.decrypt(before.encrypt(Payload(data=b"history"))).data == b"history"


def test_without_a_secret_key_one_is_generated_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERFLOW_SECRET_KEY", raising=False)
    first = codec_from_settings(Settings(data_dir=tmp_path))
    again = codec_from_settings(Settings(data_dir=tmp_path))
    key_file = tmp_path / "secret.key"
    assert first is not None and again is not None and first.keyring.active == again.keyring.active
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


async def test_an_invalid_order_request_argument_is_a_typed_non_retryable_failure() -> None:
    from workflows.state import OrderWorkflowInput

    converter = data_converter(EncryptionCodec(OLD))
    [payload] = await data_converter(EncryptionCodec(OLD)).encode([{"symbol": "AAPL", "side": "BUY",
                                                                      "quantity": "NaN", "secret": "PA-123"}])
    with pytest.raises(ApplicationError) as refused:
        await converter.decode([payload], [OrderWorkflowInput])
    assert refused.value.type == "InvalidOrderRequest" and refused.value.non_retryable
    assert "quantity" in refused.value.message and "secret" in refused.value.message
    assert "PA-123" not in refused.value.message  # fields, never their values
    with pytest.raises(ValidationError):  # other models keep pydantic's error
        await converter.decode([payload], [AmendRequest])


def test_a_bad_keyring_is_a_cli_message_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from starter import order_cli
    from starter.settings import get_settings

    monkeypatch.setenv("BROKERFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("BROKERFLOW_CODEC_KEYS", f"k1:{b64key(1)[:20]}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(order_cli.app, ["status", "some-order"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "codec key 'k1' must be base64 of 32 bytes" in result.output
    assert isinstance(result.exception, SystemExit) and b64key(1)[:20] not in result.output
