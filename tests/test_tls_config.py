"""`iam serve` refuses, before it listens, a TLS pair that cannot work (iam.tls)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from iam.errors import ConfigurationError
from iam.tls import check_pair
from tests.server import make_server
from tests.tls_certs import Authority


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("tls-config") / "ca")


def _refusal(cert: Path | None, key: Path | None) -> str:
    with pytest.raises(ConfigurationError) as refused:
        check_pair(cert, key)
    return refused.value.message


def test_a_matching_pair_is_accepted(ca: Authority) -> None:
    pair = ca.issue("good")
    check_pair(pair.cert, pair.key)


def test_a_key_of_another_certificate_is_refused(ca: Authority) -> None:
    one, other = ca.issue("one"), ca.issue("other")
    assert _refusal(one.cert, other.key) == (
        f"IAM_TLS_KEY: {other.key} is not the private key of the certificate in {one.cert}")


def test_a_key_others_can_read_is_refused(ca: Authority) -> None:
    pair = ca.issue("loose")
    pair.key.chmod(0o644)
    assert _refusal(pair.cert, pair.key) == (
        f"{pair.key} is readable by group or others (mode 644); run: chmod 600 {pair.key}")


def test_an_unreadable_certificate_is_refused(ca: Authority, tmp_path: Path) -> None:
    pair = ca.issue("missing")
    assert _refusal(tmp_path / "nope.crt", pair.key) == (
        f"IAM_TLS_CERT: cannot read {tmp_path / 'nope.crt'}: No such file or directory")


def test_an_expired_certificate_is_refused(ca: Authority) -> None:
    pair = ca.issue("expired", days=-1)
    assert "expired on" in _refusal(pair.cert, pair.key)


def test_an_encrypted_key_is_refused_without_asking_for_a_passphrase(ca: Authority) -> None:
    pair = ca.issue("sealed")
    key = serialization.load_pem_private_key(pair.key.read_bytes(), None)
    pair.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase")))
    assert "is encrypted" in _refusal(pair.cert, pair.key)


def test_a_certificate_without_its_key_is_refused(ca: Authority) -> None:
    assert "go together" in _refusal(ca.issue("alone").cert, None)


def test_serve_with_a_mismatched_pair_exits_before_listening(ca: Authority,
                                                             tmp_path: Path) -> None:
    """Checked first: before the database is opened (this one was never initialised)."""
    server = make_server(tmp_path / "srv")
    one, other = ca.issue("serve-one"), ca.issue("serve-other")
    done = subprocess.run([str(server.bin_dir / "iam"), "serve", "--port", str(server.port),
                           "--tls-cert", str(one.cert), "--tls-key", str(other.key)],
                          env=server.env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert "is not the private key of the certificate" in done.stderr
