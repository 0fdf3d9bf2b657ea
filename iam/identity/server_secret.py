"""The server's HMAC secret for API key digests: settings, or a 0600 file in the data dir."""

from __future__ import annotations

import secrets
from pathlib import Path

from iam.config import Settings
from iam.errors import ConfigurationError
from iam.store.files import check_private_file, write_private_file

FILE_NAME = "hmac.secret"


def secret_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def create_if_missing(settings: Settings) -> bool:
    """Create the secret file on first initialisation; True if it was created."""
    if settings.hmac_secret is not None or secret_path(settings).exists():
        return False
    write_private_file(secret_path(settings), secrets.token_hex(32).encode())
    return True


def load(settings: Settings) -> bytes:
    if settings.hmac_secret is not None:
        return settings.hmac_secret.get_secret_value().encode()
    path = secret_path(settings)
    if not path.exists():
        raise ConfigurationError(f"{path} is missing; run `iam init` first")
    check_private_file(path)
    value = path.read_bytes().strip()
    if len(value) < 32:
        raise ConfigurationError(f"{path} holds fewer than 32 bytes; it is not a usable secret")
    return value
