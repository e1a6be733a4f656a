"""Encryption of broker credentials at rest: AES-256-GCM, the key from the environment or a 0600 file.

Key lookup order: an explicit key, env ``BROKERFLOW_SECRET_KEY`` (base64 of 32 bytes), else
``<data dir>/secret.key`` (created on first use), where the data dir is the argument, env
``BROKERFLOW_DATA_DIR`` or ``./.brokerflow``. The key itself is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.broker_integration import ConfigurationError, ConnectionCredentials

__all__ = ["KEY_ENV", "KEY_FILE_NAME", "CredentialCipher", "CredentialDecryptionError", "load_key"]

KEY_ENV = "BROKERFLOW_SECRET_KEY"
DATA_DIR_ENV = "BROKERFLOW_DATA_DIR"
KEY_FILE_NAME = "secret.key"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class CredentialDecryptionError(ConfigurationError):
    """Stored credentials cannot be decrypted (another key, or tampered ciphertext)."""


def _decode_key(encoded: str | bytes) -> bytes:
    raw = encoded.strip() if isinstance(encoded, bytes) else encoded.strip().encode()
    raw += b"=" * (-len(raw) % 4)  # accept unpadded keys too
    try:
        key = base64.urlsafe_b64decode(raw.replace(b"+", b"-").replace(b"/", b"_"))
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{KEY_ENV} must be base64 of {_KEY_BYTES} bytes") from None
    if len(key) != _KEY_BYTES:
        raise ConfigurationError(f"{KEY_ENV} must be base64 of {_KEY_BYTES} bytes, got {len(key)} bytes")
    return key


def _key_file(data_dir: Path | str | None) -> Path:
    base = data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV) or "./.brokerflow"
    return Path(base).expanduser() / KEY_FILE_NAME


def _read_or_create(path: Path) -> bytes:
    """Read the key file, or create it with a fresh random key, readable by the owner only."""
    if path.exists():
        return _decode_key(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    encoded = base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _decode_key(path.read_bytes())
    with os.fdopen(fd, "wb") as handle:
        handle.write(encoded + b"\n")
    return _decode_key(encoded)


def load_key(data_dir: Path | str | None = None, secret_key: str | bytes | None = None) -> bytes:
    """Return the 32-byte key: explicit, from the environment, or from (a new) key file."""
    if secret_key is not None:
        return _decode_key(secret_key)
    if os.environ.get(KEY_ENV):
        return _decode_key(os.environ[KEY_ENV])
    return _read_or_create(_key_file(data_dir))


class CredentialCipher:
    """Encrypt ConnectionCredentials to bytes and back, bound to their connection id."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ConfigurationError(f"the credentials key must be {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"brokerflow-key-id:" + key).hexdigest()[:16]

    @classmethod
    def from_settings(
        cls, data_dir: Path | str | None = None, secret_key: str | bytes | None = None
    ) -> CredentialCipher:
        """Build the cipher from the configured key (see the module docstring)."""
        return cls(load_key(data_dir, secret_key))

    def __repr__(self) -> str:
        return f"CredentialCipher(key_id={self.key_id!r})"

    def encrypt(self, connection_id: str, credentials: ConnectionCredentials) -> bytes:
        """Return nonce + AES-GCM ciphertext of the clear values; the connection id is authenticated data."""
        payload: dict[str, Any] = dict(credentials.secret_values())
        expires = credentials.token_expires_at
        payload["token_expires_at"] = None if expires is None else expires.isoformat()
        if credentials.additional_keys:
            payload["additional_keys"] = credentials.additional_secret_values()
        nonce = os.urandom(_NONCE_BYTES)
        clear = json.dumps(payload, separators=(",", ":")).encode()
        return nonce + self._aead.encrypt(nonce, clear, connection_id.encode())

    def decrypt(self, connection_id: str, blob: bytes) -> ConnectionCredentials:
        """Return the credentials stored by `encrypt` for this connection id."""
        nonce, sealed = blob[:_NONCE_BYTES], blob[_NONCE_BYTES:]
        try:
            clear = self._aead.decrypt(nonce, sealed, connection_id.encode())
        except InvalidTag:
            raise CredentialDecryptionError(
                f"credentials of connection {connection_id} cannot be decrypted with key {self.key_id}"
            ) from None
        payload = {k: v for k, v in json.loads(clear).items() if v is not None}
        if "token_expires_at" in payload:
            payload["token_expires_at"] = datetime.fromisoformat(payload["token_expires_at"])
        return ConnectionCredentials(**payload)
