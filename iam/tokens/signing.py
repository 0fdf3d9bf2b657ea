"""Signing keys: generation, the libtrust key id, x5c certificates, JWKS and the keyring.

Each key is three files in the keys directory: `<name>.key` (PEM private key, mode 0600),
`<name>.crt` (its self-signed certificate, what the registry's `rootcertbundle` holds) and
`<name>.json` (kid, algorithm, activation time). A new key is published (bundle, JWKS) as
soon as it exists but signs only from its `activate_at`, so registries can learn it first.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import NameOID

from iam.errors import ConfigurationError, Unauthenticated
from iam.store.files import check_private_file, write_private_file

log = logging.getLogger("iam.signing")

ALGORITHMS = ("ES256", "RS256")
#: What a token's header says of its key, by who checks it: `admin` (our own tokens: the
#: libtrust kid), and the registry trust modes (`iam.registry.trust_config`): `bundle` (the
#: libtrust kid and the x5c certificate, checked against rootcertbundle; distribution 2.8 and
#: 3.x) and `jwks` (the RFC 7638 thumbprint as kid, no x5c; distribution 3.x with jwks).
HEADER_MODES = ("admin", "bundle", "jwks")
RELOAD_INTERVAL_S = 1.0  # a stat() of the key directory; rotation is seen within 1 s


def libtrust_kid(public_key: PublicKeyTypes) -> str:
    """The key id docker's libtrust derives: SHA-256 of the DER SPKI, 240 bits, base32."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, 48, 4))


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the JWK's required members, sorted, without white space,
    base64url without padding."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"),
                           sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _write_public_file(path: Path, data: bytes) -> None:
    """Write atomically (temporary file, then rename), world-readable (certificates, meta)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def remove_key(keys_dir: Path, name: str) -> None:
    """Delete a key's files, metadata first so that no keyring loads a partial key."""
    for suffix in (".json", ".key", ".crt"):
        (keys_dir / f"{name}{suffix}").unlink(missing_ok=True)


@dataclass(frozen=True)
class SigningKey:
    name: str
    kid: str
    alg: str
    private_key: PrivateKeyTypes
    certificate: x509.Certificate
    created_at: datetime
    activate_at: datetime

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r}, activate_at={self.activate_at})"

    @property
    def public_key(self) -> PublicKeyTypes:
        return self.certificate.public_key()

    @cached_property
    def x5c(self) -> str:  # in every registry token's header: encode the certificate once
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode()

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def _public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.get_default_algorithms()[self.alg]
                                         .to_jwk(self.public_key))
        return jwk

    @cached_property
    def thumbprint(self) -> str:
        """The RFC 7638 JWK thumbprint: the `kid` of `jwks`-mode registry tokens."""
        return jwk_thumbprint(self._public_jwk())

    def jwk(self) -> dict[str, Any]:
        """The public key as published at /.well-known/jwks.json: libtrust kid and x5c."""
        return {**self._public_jwk(), "kid": self.kid, "alg": self.alg, "use": "sig",
                "x5c": [self.x5c]}

    def thumbprint_jwk(self) -> dict[str, Any]:
        """The public key as a `jwks`-mode registry reads it: kid = thumbprint, no x5c."""
        return {**self._public_jwk(), "kid": self.thumbprint, "alg": self.alg, "use": "sig"}

    @cached_property
    def headers(self) -> dict[str, dict[str, Any]]:
        """The JWT header of each of HEADER_MODES."""
        fields: dict[str, dict[str, Any]] = {
            "admin": {"kid": self.kid}, "bundle": {"kid": self.kid, "x5c": [self.x5c]},
            "jwks": {"kid": self.thumbprint}}
        return {mode: {"alg": self.alg, "typ": "JWT", **extra} for mode, extra in fields.items()}

    @cached_property
    def header_segments(self) -> dict[str, bytes]:
        """Each header's first JWS segment, encoded once per key rather than in every token
        (with the x5c certificate it is ~700 characters of JSON, then base64)."""
        return {mode: jwt.utils.base64url_encode(
                    json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
                for mode, header in self.headers.items()}

    @cached_property
    def algorithm(self) -> jwt.algorithms.Algorithm:
        """PyJWT's implementation of `alg`, its key checked once."""
        algorithm = jwt.algorithms.get_default_algorithms()[self.alg]
        algorithm.prepare_key(self.private_key)
        return algorithm


def _new_private_key(alg: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ConfigurationError(f"unsupported signing algorithm {alg!r}; use one of {ALGORITHMS}")


def _self_signed(private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, issuer: str,
                 kid: str) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, f"{issuer} token signing {kid[:14]}"[:64]),
    ])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )


def generate_key(keys_dir: Path, *, alg: str, issuer: str,
                 activate_at: datetime | None = None) -> SigningKey:
    """Create a key and its certificate in `keys_dir`; it signs from `activate_at` (now)."""
    private_key = _new_private_key(alg)
    kid = libtrust_kid(private_key.public_key())
    certificate = _self_signed(private_key, issuer, kid)
    created = datetime.now(UTC)
    activate = activate_at or created
    name = f"{created.strftime('%Y%m%dT%H%M%S')}-{kid[:4]}{kid[5:9]}".lower()
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(keys_dir / f"{name}.key", pem)
    _write_public_file(keys_dir / f"{name}.crt",
                       certificate.public_bytes(serialization.Encoding.PEM))
    meta = {"kid": kid, "alg": alg, "created_at": created.isoformat(),
            "activate_at": activate.isoformat()}
    # the .json comes last: a key is loaded only once its metadata exists, so a running
    # keyring never sees half a key
    _write_public_file(keys_dir / f"{name}.json", (json.dumps(meta, indent=2) + "\n").encode())
    return SigningKey(name, kid, alg, private_key, certificate, created, activate)


def load_keys(keys_dir: Path) -> list[SigningKey]:
    """Every key in the directory, oldest activation first. Refuses unsafe or broken files."""
    keys: list[SigningKey] = []
    if not keys_dir.is_dir():
        return keys
    for meta_path in sorted(keys_dir.glob("*.json")):
        name = meta_path.stem
        key_path = keys_dir / f"{name}.key"
        check_private_file(key_path)
        try:
            meta = json.loads(meta_path.read_text())
            private_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            certificate = x509.load_pem_x509_certificate((keys_dir / f"{name}.crt").read_bytes())
            key = SigningKey(
                name, meta["kid"], meta["alg"], private_key, certificate,
                datetime.fromisoformat(meta["created_at"]),
                datetime.fromisoformat(meta["activate_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"signing key {name} in {keys_dir} is unusable: {exc}") \
                from None
        if key.alg not in ALGORITHMS or libtrust_kid(key.public_key) != key.kid:
            raise ConfigurationError(f"signing key {name}: kid or algorithm does not match")
        keys.append(key)
    keys.sort(key=lambda k: (k.activate_at, k.created_at))
    return keys


class Keyring:
    """The keys of one data directory, re-read when the directory changes (rotation)."""

    def __init__(self, keys_dir: Path) -> None:
        self._dir = keys_dir
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = []
        self._by_kid: dict[str, SigningKey] = {}
        self._stamp: float | None = None
        self._checked = 0.0
        self._reload(force=True)
        if not self._keys:
            raise ConfigurationError(f"no signing key in {keys_dir}; run `iam init` first")

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL_S:
            return
        with self._lock:
            self._checked = now
            stamp = self._dir.stat().st_mtime if self._dir.exists() else None
            if not force and stamp == self._stamp:
                return
            try:
                keys = load_keys(self._dir)
            except ConfigurationError as exc:
                if force:
                    raise
                # a running service keeps signing with the keys it has; the next change of
                # the directory is tried again
                log.warning("signing keys not reloaded: %s", exc.message)
                self._stamp = stamp
                return
            if not keys and not force:
                log.warning("signing key directory %s is empty; keeping the loaded keys",
                            self._dir)
                self._stamp = stamp
                return
            self._keys = keys
            self._by_kid = {k.kid: k for k in keys}
            self._stamp = stamp

    def published(self) -> list[SigningKey]:
        self._reload()
        return list(self._keys)

    def active(self) -> SigningKey:
        """The newest key whose activation time has come."""
        self._reload()
        now = datetime.now(UTC)
        ready = [k for k in self._keys if k.activate_at <= now]
        return ready[-1] if ready else self._keys[0]

    def by_kid(self, kid: str) -> SigningKey | None:
        self._reload()
        return self._by_kid.get(kid)

    def sign(self, claims: dict[str, Any], *, header: str = "admin") -> str:
        """Sign with the active key; `header`: one of HEADER_MODES (a registry's trust).

        The compact JWS is put together here as `jwt.encode` does (sorted header, claims as
        compact JSON, base64url, the algorithm's signature; tests/test_registry_claims.py
        checks the two agree) but with the header segment made once per key, not once per token."""
        key = self.active()
        payload = jwt.utils.base64url_encode(
            json.dumps(claims, separators=(",", ":")).encode())
        signing_input = key.header_segments[header] + b"." + payload
        signature = key.algorithm.sign(signing_input, key.private_key)
        return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()

    def verify(self, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
        """Strict verification: known kid, its pinned algorithm, iss, aud, exp, nbf."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._by_kid.get(str(header.get("kid"))) or self.by_kid(str(header.get("kid")))
            if key is None:
                raise Unauthenticated("invalid token")
            claims: dict[str, Any] = jwt.decode(
                token, key.public_key, algorithms=[key.alg], audience=audience, issuer=issuer,  # type: ignore[arg-type]
                options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]}, leeway=30,
            )
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token") from None
        return claims

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.published()]}

    def bundle_pem(self) -> str:
        return "".join(k.certificate_pem for k in self.published())
