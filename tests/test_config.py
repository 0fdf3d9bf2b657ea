"""Settings and secret files are refused at start-up with a message that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam import bootstrap
from iam.config import Settings, load_settings
from iam.errors import ConfigurationError
from iam.identity import server_secret
from iam.runtime import Runtime


def _initialised(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data")
    bootstrap.initialize(settings)
    return settings


@pytest.mark.parametrize("ttl", [0, 59, 3601])
def test_token_ttl_outside_60_to_3600_is_refused(ttl: int) -> None:
    with pytest.raises(ConfigurationError, match="IAM_TOKEN_TTL"):
        load_settings(token_ttl=ttl)


def test_unknown_signing_algorithm_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="signing_alg"):
        load_settings(signing_alg="HS256")


def test_duplicate_registry_service_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="same service twice"):
        load_settings(registries=[{"service": "r"}, {"service": "r"}])


def test_registries_read_from_environment_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAM_REGISTRIES",
                       '[{"service":"registry.us","region":"us-south"},{"service":"registry.eu","region":"eu-de"}]')
    settings = load_settings()
    assert [(r.service, r.region) for r in settings.registries] == [
        ("registry.us", "us-south"), ("registry.eu", "eu-de")]


def test_config_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('token_ttl = 600\n'
                      '[[registries]]\nservice = "registry.eu"\nregion = "eu-de"\n')
    monkeypatch.setenv("IAM_CONFIG_FILE", str(config))
    settings = load_settings()
    assert settings.token_ttl == 600
    assert settings.registries[0].service == "registry.eu"


def test_init_writes_secrets_readable_by_owner_only(tmp_path: Path) -> None:
    settings = _initialised(tmp_path)
    assert server_secret.secret_path(settings).stat().st_mode & 0o777 == 0o600
    key_files = list(settings.keys_dir.glob("*.key"))
    assert key_files and all(p.stat().st_mode & 0o777 == 0o600 for p in key_files)


def test_init_is_idempotent(tmp_path: Path) -> None:
    settings = _initialised(tmp_path)
    again = bootstrap.initialize(settings)
    assert again.created is False and again.new_account is None


def test_signing_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = _initialised(tmp_path)
    key_file = next(settings.keys_dir.glob("*.key"))
    key_file.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Runtime.start(settings)


def test_hmac_secret_readable_by_others_is_refused(tmp_path: Path) -> None:
    settings = _initialised(tmp_path)
    server_secret.secret_path(settings).chmod(0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Runtime.start(settings)


def test_service_refuses_to_start_before_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="iam init"):
        Runtime.start(Settings(data_dir=tmp_path / "nothing"))


def test_short_hmac_secret_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        load_settings(hmac_secret="short")
