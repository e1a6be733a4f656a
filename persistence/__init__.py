"""PostgreSQL persistence: SQLModel tables, the five repositories, encrypted credentials, migrations."""

from .crypto import CredentialCipher, CredentialDecryptionError, load_key
from .database import create_engine, normalise_url
from .factory import Repositories, open_repositories

__all__ = [
    "CredentialCipher",
    "CredentialDecryptionError",
    "Repositories",
    "create_engine",
    "load_key",
    "normalise_url",
    "open_repositories",
]
