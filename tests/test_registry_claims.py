"""The registry token's claims (a pure function) and its signature, ES256 and RS256."""

from __future__ import annotations

import base64
from pathlib import Path

import jwt
import pytest
from cryptography import x509

from iam.registry.claims import build_claims, issue
from iam.tokens import signing

ACCESS = [{"type": "repository", "name": "ns01/app", "actions": ["pull"]}]


def test_build_claims_is_exactly_the_registry_claim_set() -> None:
    claims = build_claims(issuer="iss", subject="iam-ServiceId-1", audience="registry.us",
                          access=ACCESS, now=1000, ttl=300, jti="j")
    assert claims == {"iss": "iss", "sub": "iam-ServiceId-1", "aud": "registry.us",
                      "exp": 1300, "nbf": 1000, "iat": 1000, "jti": "j", "access": ACCESS}


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_issue_signs_with_the_active_key_and_its_certificate(tmp_path: Path, alg: str) -> None:
    key = signing.generate_key(tmp_path, alg=alg, issuer="iss")
    issued = issue(keyring=signing.Keyring(tmp_path), issuer="iss", subject="s",
                   audience="registry.us", access=ACCESS, ttl=300)
    header = jwt.get_unverified_header(issued.token)
    assert (header["alg"], header["kid"]) == (alg, key.kid)
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    claims = jwt.decode(issued.token, cert.public_key(), algorithms=[alg],  # type: ignore[arg-type]
                        audience="registry.us")
    assert claims["access"] == ACCESS and isinstance(claims["aud"], str)


def test_keyring_keeps_its_keys_when_a_reload_finds_a_broken_file(tmp_path: Path) -> None:
    key = signing.generate_key(tmp_path, alg="ES256", issuer="iss")
    keyring = signing.Keyring(tmp_path)
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "broken.key").write_bytes(b"")
    (tmp_path / "broken.key").chmod(0o600)
    keyring._checked = 0.0  # as if the reload interval had passed
    assert keyring.active().kid == key.kid


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
@pytest.mark.parametrize("mode", signing.HEADER_MODES)
def test_a_signed_token_is_what_pyjwt_would_make_of_the_same_claims(
        tmp_path: Path, alg: str, mode: str) -> None:
    key = signing.generate_key(tmp_path, alg=alg, issuer="iss")
    claims = build_claims(issuer="iss", subject="s", audience="registry.us", access=ACCESS,
                          now=1000, ttl=300, jti="j")
    ours = signing.Keyring(tmp_path).sign(claims, header=mode)
    extra = {k: v for k, v in key.headers[mode].items() if k not in ("alg", "typ")}
    theirs = jwt.encode(claims, key.private_key, algorithm=alg,  # type: ignore[arg-type]
                        headers=extra)
    assert ours.split(".")[:2] == theirs.split(".")[:2]  # ES256 signatures are randomised
    assert jwt.decode(ours, key.public_key, algorithms=[alg],  # type: ignore[arg-type]
                      audience="registry.us", options={"verify_exp": False}) == claims
