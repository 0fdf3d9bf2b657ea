"""The libtrust key id, checked against the distribution token spec's example key."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from iam.tokens import signing

# The example ES256 key of distribution's docs/spec/auth/jwt.md (public part only).
SPEC_X = "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q"
SPEC_Y = "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc"
SPEC_KID = "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6"


def _coordinate(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_libtrust_kid_matches_the_spec_test_vector() -> None:
    key = ec.EllipticCurvePublicNumbers(_coordinate(SPEC_X), _coordinate(SPEC_Y),
                                        ec.SECP256R1()).public_key()
    assert signing.libtrust_kid(key) == SPEC_KID


def test_libtrust_kid_has_twelve_groups_of_four_base32_characters() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert re.fullmatch(r"[A-Z2-7]{4}(:[A-Z2-7]{4}){11}", signing.libtrust_kid(key))


def test_generate_key_writes_a_private_file_and_a_certificate_of_the_same_key(
        tmp_path: Path) -> None:
    key = signing.generate_key(tmp_path, alg="RS256", issuer="test")
    assert (tmp_path / f"{key.name}.key").stat().st_mode & 0o777 == 0o600
    assert signing.libtrust_kid(key.certificate.public_key()) == key.kid
    assert signing.load_keys(tmp_path)[0].kid == key.kid


def test_jwk_carries_kid_alg_and_certificate(tmp_path: Path) -> None:
    key = signing.generate_key(tmp_path, alg="ES256", issuer="test")
    jwk = key.jwk()
    assert (jwk["kid"], jwk["alg"], jwk["kty"], jwk["crv"]) == (key.kid, "ES256", "EC", "P-256")
    assert jwk["x5c"] == [key.x5c]
