"""`iam keys list|rotate` and `iam registry-config`, on a local data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from iam.cli import app
from iam.tokens import signing

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("IAM_CONFIG_FILE", "IAM_DATABASE_URL", "IAM_REGISTRIES"):
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("IAM_DATA_DIR", str(data))
    result = runner.invoke(app, ["init", "--apikey-file", str(tmp_path / "owner.key")])
    assert result.exit_code == 0, result.output  # the database holds registry.local
    return data


def test_keys_list_shows_the_active_key(data_dir: Path) -> None:
    result = runner.invoke(app, ["keys", "list", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert [k["state"] for k in json.loads(result.stdout)] == ["active"]


def test_keys_rotate_publishes_a_pending_key(data_dir: Path) -> None:
    result = runner.invoke(app, ["keys", "rotate", "--activate-after", "300", "-o", "json"])
    assert result.exit_code == 0, result.output
    new_kid = json.loads(result.stdout)["kid"]
    listed = json.loads(runner.invoke(app, ["keys", "list", "-o", "json"]).stdout)
    assert [(k["kid"] == new_kid, k["state"]) for k in listed] == [
        (False, "active"), (True, "pending")]


def test_registry_config_writes_the_bundle_and_prints_auth_token(data_dir: Path,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "trust"
    result = runner.invoke(app, ["registry-config", "--service", "registry.local", "--realm",
                                 "http://iam.example:8080/token", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "auth:\n  token:\n" in result.stdout
    assert 'realm: "http://iam.example:8080/token"' in result.stdout
    assert 'service: "registry.local"' in result.stdout
    assert 'issuer: "registry-iam"' in result.stdout
    bundle = out / "iam-token-bundle.pem"
    assert f'rootcertbundle: "{bundle.resolve()}"' in result.stdout
    certs = x509.load_pem_x509_certificates(bundle.read_bytes())
    assert [signing.libtrust_kid(c.public_key()) for c in certs] == [
        k.kid for k in signing.load_keys(data_dir / "keys")]


def test_registry_config_refuses_an_unknown_service(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["registry-config", "--service", "nowhere", "--realm", "x",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown registry 'nowhere'; the registries are: registry.local" in result.output
