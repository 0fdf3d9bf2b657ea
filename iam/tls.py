"""TLS for `iam serve`: the certificate and private key, checked before anything listens.

A server that starts with a key that does not match its certificate, an expired
certificate or a key file others can read would fail every client's handshake, or leak
the key; each is refused here with a message that says what to fix. The key must be
unencrypted (the server restarts unattended) and, like the HMAC secret and the signing
keys, mode 0600.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from iam.errors import ConfigurationError
from iam.store.files import check_private_file


class _EncryptedKey(Exception):
    """The key file asked for a passphrase."""


def _no_passphrase() -> bytes:
    raise _EncryptedKey()


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{setting}: cannot read {path}: "
                                 f"{exc.strerror or exc}") from None


def check_pair(cert: Path | None, key: Path | None) -> None:
    """Refuse (ConfigurationError) an unusable pair; nothing to check without TLS."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        raise ConfigurationError("IAM_TLS_CERT and IAM_TLS_KEY go together (--tls-cert and "
                                 "--tls-key): give both files or neither")
    pem = _read(cert, "IAM_TLS_CERT")
    _read(key, "IAM_TLS_KEY")
    check_private_file(key)
    try:
        first = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise ConfigurationError(f"IAM_TLS_CERT: {cert} holds no PEM certificate") from None
    now = datetime.now(UTC)
    if first.not_valid_after_utc <= now:
        raise ConfigurationError(f"IAM_TLS_CERT: {cert} expired on "
                                 f"{first.not_valid_after_utc:%Y-%m-%d}; renew it")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_passphrase)
    except _EncryptedKey:
        raise ConfigurationError(f"IAM_TLS_KEY: {key} is encrypted; the server starts "
                                 "unattended, so give it the key unencrypted (mode 0600)"
                                 ) from None
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if "MISMATCH" in reason.upper():
            raise ConfigurationError(f"IAM_TLS_KEY: {key} is not the private key of the "
                                     f"certificate in {cert}") from None
        raise ConfigurationError(f"IAM_TLS_CERT/IAM_TLS_KEY: {cert} and {key} are not a "
                                 f"usable PEM certificate and key ({reason})") from None
