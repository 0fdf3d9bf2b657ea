"""Signing key rotation: publish first, sign later, prune when every token has expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from iam.config import Settings
from iam.errors import InvalidInput
from iam.tokens import key_rotation, signing


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(data_dir=tmp_path, database_url="sqlite://", token_ttl=300,
                 access_token_ttl=3600, refresh_token_ttl=86400)
    signing.generate_key(s.keys_dir, alg="ES256", issuer=s.issuer,
                         activate_at=datetime.now(UTC) - timedelta(days=10))
    return s


def _states(settings: Settings, now: datetime) -> list[str]:
    keys = signing.load_keys(settings.keys_dir)
    return [s.state for s in key_rotation.key_states(
        keys, now=now, max_ttl=key_rotation.longest_token_ttl(settings))]


def test_rotate_publishes_a_pending_key_that_does_not_sign_yet(settings: Settings) -> None:
    new = key_rotation.rotate(settings, activate_after=600)
    keyring = signing.Keyring(settings.keys_dir)
    assert [k.kid for k in keyring.published()][-1] == new.kid
    assert keyring.active().kid != new.kid
    assert _states(settings, datetime.now(UTC)) == ["active", "pending"]


def test_rotated_key_signs_after_its_activation(settings: Settings) -> None:
    new = key_rotation.rotate(settings, activate_after=0)
    assert signing.Keyring(settings.keys_dir).active().kid == new.kid
    assert _states(settings, datetime.now(UTC) + timedelta(seconds=1)) == ["retired", "active"]


def test_prune_keeps_a_retired_key_while_its_tokens_may_live(settings: Settings) -> None:
    key_rotation.rotate(settings, activate_after=0)
    later = datetime.now(UTC) + timedelta(seconds=86400)
    assert key_rotation.prune(settings, now=later) == []
    assert len(signing.load_keys(settings.keys_dir)) == 2


def test_prune_deletes_a_retired_key_once_every_token_expired(settings: Settings) -> None:
    old = signing.load_keys(settings.keys_dir)[0]
    key_rotation.rotate(settings, activate_after=0)
    later = datetime.now(UTC) + timedelta(seconds=86400 + 120)
    assert [k.kid for k in key_rotation.prune(settings, now=later)] == [old.kid]
    assert not list(settings.keys_dir.glob(f"{old.name}.*"))


def test_rotate_refuses_a_negative_delay(settings: Settings) -> None:
    with pytest.raises(InvalidInput):
        key_rotation.rotate(settings, activate_after=-1)
