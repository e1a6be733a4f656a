"""The payload codec: every Temporal payload leaves the process encrypted with AES-256-GCM.

Exception tree::

    CodecError                      [ConfigurationError]
    ├── CodecKeyError               a malformed keyring (BROKERFLOW_CODEC_KEYS)
    ├── UnknownCodecKeyError        a payload names a key id the keyring does not hold
    └── PayloadDecryptionError      a payload that fails authentication (tampered, or wrong key)

Keys: ``BROKERFLOW_CODEC_KEYS="kid1:base64key,kid2:base64key"`` (the first encrypts, every one decrypts,
so old keys keep their histories readable), and always a key derived (HKDF-SHA256) from the credentials
master key (``BROKERFLOW_SECRET_KEY`` or ``<data dir>/secret.key``, created on first use). Without
``BROKERFLOW_CODEC_KEYS`` the derived key is the active one, so every process that can read the stored
credentials (worker, CLI, demo) agrees on the codec with no extra setup. Key material is never logged.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.exceptions import ApplicationError

from activities.models import OrderRequest
from domain.broker_integration import ConfigurationError

if TYPE_CHECKING:
    from starter.settings import Settings

__all__ = [
    "ENCODING",
    "KEY_ID_METADATA",
    "CheckedPayloadConverter",
    "CodecError",
    "CodecKeyError",
    "EncryptionCodec",
    "Keyring",
    "PayloadDecryptionError",
    "UnknownCodecKeyError",
    "codec_from_settings",
    "data_converter",
    "data_converter_for_settings",
    "derive_codec_key",
    "parse_keyring",
]

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HKDF_INFO = b"brokerflow temporal payload codec v1"


class CodecError(ConfigurationError):
    """Base of the payload codec's errors."""


class CodecKeyError(CodecError):
    """The codec keyring is malformed."""


class UnknownCodecKeyError(CodecError):
    """A payload was encrypted with a key this process does not hold."""


class PayloadDecryptionError(CodecError):
    """A payload failed authentication: tampered with, or sealed by another key of the same id."""


@dataclass(frozen=True)
class Keyring:
    """Codec keys by id; `active` encrypts, all of them decrypt."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise CodecKeyError(f"active codec key {self.active!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.match(key_id):
                raise CodecKeyError(f"codec key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -")
            if len(key) != _KEY_BYTES:
                raise CodecKeyError(f"codec key {key_id!r} must be {_KEY_BYTES} bytes, got {len(key)}")

    def __repr__(self) -> str:  # never the key material
        return f"Keyring(active={self.active!r}, ids={sorted(self.keys)!r})"

    def with_fallback(self, key_id: str, key: bytes) -> Keyring:
        """This keyring plus a decrypt-only key (kept if the id is already present)."""
        return Keyring({key_id: key, **self.keys}, self.active)


def _b64_key(key_id: str, text: str) -> bytes:
    raw = text.strip().encode()
    raw += b"=" * (-len(raw) % 4)
    try:
        key = base64.urlsafe_b64decode(raw.replace(b"+", b"-").replace(b"/", b"_"))
    except (binascii.Error, ValueError):
        raise CodecKeyError(f"codec key {key_id!r} is not base64") from None
    if len(key) != _KEY_BYTES:
        raise CodecKeyError(f"codec key {key_id!r} must be base64 of {_KEY_BYTES} bytes, got {len(key)} bytes")
    return key


def parse_keyring(text: str) -> Keyring:
    """Parse ``"kid1:base64key,kid2:base64key"``; the first key is the active one."""
    keys: dict[str, bytes] = {}
    for index, entry in enumerate(part.strip() for part in text.split(",")):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not encoded.strip():
            raise CodecKeyError(f"codec key entry {index + 1} must be <key id>:<base64 key>")
        if key_id in keys:
            raise CodecKeyError(f"codec key id {key_id!r} appears twice")
        keys[key_id] = _b64_key(key_id, encoded)
    return Keyring(keys, next(iter(keys)))


def derive_codec_key(master_key: bytes) -> tuple[str, bytes]:
    """The codec key (and its id) derived from the credentials master key: same master, same codec."""
    key = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=_HKDF_INFO).derive(master_key)
    return "d-" + hashlib.sha256(b"brokerflow-codec-key-id:" + key).hexdigest()[:12], key


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the whole serialized payload; the key id travels in the metadata."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._aeads = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    @classmethod
    def from_master_key(cls, master_key: bytes, extra: Keyring | None = None) -> EncryptionCodec:
        """The codec of the derived key, behind `extra`'s keys when given (`extra` keeps the active one)."""
        key_id, key = derive_codec_key(master_key)
        return cls(extra.with_fallback(key_id, key) if extra else Keyring({key_id: key}, key_id))

    def __repr__(self) -> str:
        return f"EncryptionCodec({self.keyring!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload with the active key."""
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt each encrypted payload; others (written before the codec) pass through."""
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload sealed with the active key (the key id is authenticated data)."""
        key_id = self.keyring.active
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """One payload opened, or returned as is when it is not ours to open."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        aead = self._aeads.get(key_id)
        if aead is None:
            raise UnknownCodecKeyError(
                f"payload encrypted with codec key {key_id!r}, not in this keyring {sorted(self._aeads)}")
        try:
            clear = aead.decrypt(payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:], key_id.encode())
        except (InvalidTag, ValueError):  # ValueError: too short to hold a nonce
            raise PayloadDecryptionError(f"payload does not authenticate with codec key {key_id!r}") from None
        opened = Payload()
        opened.ParseFromString(clear)
        return opened


class CheckedPayloadConverter(PydanticPayloadConverter):
    """The pydantic converter; an order request that does not validate is a typed, non-retryable failure.

    Without this a hostile workflow argument (say `"quantity": "NaN"` from another language's client) fails
    decoding as a RuntimeError, which Temporal retries as a workflow task forever. An ApplicationError
    raised while decoding fails the workflow instead, with the fields at fault (never their values).
    """

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[object]:
        try:
            return super().from_payloads(payloads, type_hints)
        except ValidationError as error:
            if not any(_is_order_request(hint) for hint in type_hints or ()):
                raise
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
            raise ApplicationError(f"invalid order request: {problems}", type="InvalidOrderRequest",
                                   non_retryable=True) from None


def _is_order_request(hint: object) -> bool:
    return isinstance(hint, type) and issubclass(hint, OrderRequest)


def data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The checked pydantic converter, plus the codec and encoded failure messages and stack traces if given."""
    checked = dataclasses.replace(pydantic_data_converter, payload_converter_class=CheckedPayloadConverter)
    if codec is None:
        return checked
    return dataclasses.replace(checked, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def codec_from_settings(settings: Settings) -> EncryptionCodec | None:
    """The codec the settings ask for (None when ``BROKERFLOW_CODEC_ENABLED=false``)."""
    from persistence.crypto import load_key

    if not settings.codec_enabled:
        return None
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    master = load_key(settings.resolved_data_dir, secret)
    extra = parse_keyring(settings.codec_keys.get_secret_value()) if settings.codec_keys else None
    return EncryptionCodec.from_master_key(master, extra)


def data_converter_for_settings(settings: Settings) -> DataConverter:
    """The data converter every client and worker of these settings must use."""
    return data_converter(codec_from_settings(settings))
