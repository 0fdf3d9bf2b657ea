"""The token path's cache: answers stay right while it serves them, on both databases.

What a cache must never do: keep a revoked key working past the revocation bound (1 s, on
every process), let one identity's grant answer another, outlive a key's expiry, or bump
its generation on mere activity (it would never be warm). Every change goes through the
public API; a second app on the same database plays another replica.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from iam.api.app import create_app
from iam.config import Settings
from iam.store.db import make_engine
from iam.store.generation_cache import AuthCache
from tests.conftest import Owner
from tests.test_registry_token import (
    US,
    access_of,
    basic,
    namespace,
    policy,
    service_id_key,
)

REVOCATION_BOUND_S = 1.0
PUSH = "repository:ns01/app:pull,push"


def generation(settings: Settings) -> int:
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT value FROM authz_generation")).scalar_one())
    finally:
        engine.dispose()


def status(client: TestClient, apikey: str, *scopes: str) -> int:
    return client.get("/token", params={"service": US, "scope": list(scopes)},
                      headers=basic("iamapikey", apikey)).status_code


def refused_within(client: TestClient, apikey: str, bound: float) -> float | None:
    """Seconds until the key is refused, or None if still accepted after `bound`."""
    start = time.monotonic()
    while time.monotonic() - start <= bound:
        if status(client, apikey) == 401:
            return time.monotonic() - start
        time.sleep(0.02)
    return None


@pytest.fixture
def settings(settings: Settings) -> Settings:
    from iam.config import Registry

    return settings.model_copy(update={"registries": [Registry(service=US, region="")]})


@pytest.fixture
def ns01(client: TestClient, admin: dict[str, str]) -> None:
    namespace(client, admin, "ns01", "")


@pytest.fixture
def replica(settings: Settings, owner: Owner) -> Iterator[TestClient]:
    """A second process on the same database, with its own cache."""
    with TestClient(create_app(settings)) as other:
        yield other


def test_a_repeated_token_is_served_from_the_cache(client: TestClient, owner: Owner) -> None:
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert status(client, owner.apikey) == 200
    assert len(runtime.authcache.decisions) == 1
    assert status(client, owner.apikey) == 200
    assert len(runtime.authcache.decisions) == 1


def test_key_disabled_here_is_refused_at_once(client: TestClient, admin: dict[str, str],
                                              ns01: None) -> None:
    _, key_id, key = service_id_key(client, admin, "ci")
    assert status(client, key) == 200
    assert client.post(f"/v1/apikeys/{key_id}/disable", headers=admin).status_code == 200
    assert status(client, key) == 401


def test_key_disabled_on_another_replica_is_refused_within_the_bound(
        client: TestClient, replica: TestClient, admin: dict[str, str]) -> None:
    _, key_id, key = service_id_key(client, admin, "ci")
    assert status(client, key) == 200  # cached here
    r = replica.post(f"/v1/apikeys/{key_id}/disable", headers=admin)
    assert r.status_code == 200, r.text
    assert refused_within(client, key, REVOCATION_BOUND_S) is not None


def test_policy_removed_on_another_replica_ends_the_grant_within_the_bound(
        client: TestClient, replica: TestClient, admin: dict[str, str], ns01: None) -> None:
    iam_id, _, key = service_id_key(client, admin, "ci")
    policy(client, admin, iam_id, ["Writer"], "ns01")
    assert access_of(client, key, PUSH)[0]["actions"] == ["pull", "push"]
    listed = replica.get("/v1/policies", params={"iam_id": iam_id}, headers=admin).json()
    policy_id = listed["data"][0]["id"]
    assert replica.delete(f"/v1/policies/{policy_id}", headers=admin).status_code == 204
    deadline = time.monotonic() + REVOCATION_BOUND_S
    while access_of(client, key, PUSH)[0]["actions"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert access_of(client, key, PUSH)[0]["actions"] == []


def test_one_identity_grant_never_answers_another(client: TestClient, admin: dict[str, str],
                                                  ns01: None) -> None:
    writer, _, writer_key = service_id_key(client, admin, "writer")
    _, _, other_key = service_id_key(client, admin, "other")
    policy(client, admin, writer, ["Writer"], "ns01")
    for _ in range(2):  # the second round is answered from the cache
        assert access_of(client, writer_key, PUSH)[0]["actions"] == ["pull", "push"]
        assert access_of(client, other_key, PUSH)[0]["actions"] == []


def test_same_key_with_other_scopes_is_evaluated_for_those_scopes(
        client: TestClient, admin: dict[str, str], ns01: None) -> None:
    iam_id, _, key = service_id_key(client, admin, "reader")
    policy(client, admin, iam_id, ["Reader"], "ns01")
    assert access_of(client, key, "repository:ns01/app:pull")[0]["actions"] == ["pull"]
    assert access_of(client, key, PUSH)[0]["actions"] == ["pull"]
    assert access_of(client, key, "repository:ns02/app:pull")[0]["actions"] == []


def test_cached_key_is_refused_once_it_expires(client: TestClient, admin: dict[str, str],
                                               ns01: None) -> None:
    iam_id, _, _ = service_id_key(client, admin, "short")
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    r = client.post("/v1/apikeys", json={"name": "short", "iam_id": iam_id,
                                         "expires_at": expires.isoformat()}, headers=admin)
    assert r.status_code == 201, r.text
    key = r.json()["apikey"]
    assert status(client, key) == 200
    assert status(client, key) == 200  # from the cache, with the key's expiry
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.1)
    assert status(client, key) == 401


def test_key_activity_does_not_empty_the_cache(owner: Owner, settings: Settings) -> None:
    """Its own app, whose background flush waits an hour: the one every 0.2 s of the other
    tests' apps could write the key's activity first on a busy machine."""
    quiet = settings.model_copy(update={"activity_flush_seconds": 3600.0})
    with TestClient(create_app(quiet)) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert status(client, owner.apikey) == 200
        before = generation(settings)
        assert runtime.activity.flush() == 1  # writes api_keys.authn_count and last_authn
        assert generation(settings) == before
        assert len(runtime.authcache.decisions) == 1


@pytest.mark.parametrize("change", ["namespace", "group", "service_id", "user"])
def test_every_admin_change_moves_the_generation(client: TestClient, admin: dict[str, str],
                                                 settings: Settings, change: str) -> None:
    before = generation(settings)
    if change == "namespace":
        namespace(client, admin, "ns09", "")
    elif change == "group":
        r = client.post("/v1/groups", json={"name": "g1"}, headers=admin)
        assert r.status_code == 201, r.text
    elif change == "service_id":
        service_id_key(client, admin, "x")
    else:
        r = client.post("/v1/users", json={"name": "ann", "password": "correct horse 1"},
                        headers=admin)
        assert r.status_code == 201, r.text
    assert generation(settings) > before


def test_cache_can_be_turned_off(settings: Settings, owner: Owner) -> None:
    with TestClient(create_app(settings.model_copy(
            update={"authz_cache_entries": 0}))) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        assert status(client, owner.apikey) == 200
        assert runtime.authcache.generation is None
        assert len(runtime.authcache.decisions) == 0


def test_unreadable_generation_turns_the_cache_off(tmp_path: object) -> None:
    engine = make_engine("sqlite:////nonexistent/dir/iam.db")
    cache = AuthCache(engine, max_entries=10, poll_seconds=0.1)
    cache.generation = 5
    assert cache.refresh() is None
    assert cache.generation is None
    engine.dispose()


def test_api_key_trigger_watches_every_column_but_the_activity_ones() -> None:
    """A column added to api_keys later must be added to the trigger (or to activity)."""
    import importlib.util
    from pathlib import Path

    from iam.store.models import ApiKey

    path = Path(__file__).parent.parent / "alembic" / "versions" / "0002_authz_generation.py"
    spec = importlib.util.spec_from_file_location("migration_0002", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    columns = {c.name for c in ApiKey.__table__.columns}  # type: ignore[attr-defined]
    assert set(migration.API_KEY_COLUMNS) == columns - set(migration.ACTIVITY_COLUMNS)


def test_refresh_grant_of_a_key_disabled_elsewhere_is_refused_within_the_bound(
        client: TestClient, replica: TestClient, admin: dict[str, str]) -> None:
    """docker's POST /token after `docker login`: the key behind the refresh token is
    re-checked through the cache, so its revocation reaches this process within the bound."""
    _, key_id, key = service_id_key(client, admin, "docker-robot")
    refresh = client.get("/token", params={"service": US, "offline_token": "true"},
                         headers=basic("iamapikey", key)).json()["refresh_token"]
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": US,
            "client_id": "docker", "scope": PUSH}
    for _ in range(2):  # the second answer comes from the cache
        assert client.post("/token", data=form).status_code == 200
    assert replica.post(f"/v1/apikeys/{key_id}/disable", headers=admin).status_code == 200
    deadline = time.monotonic() + REVOCATION_BOUND_S
    while client.post("/token", data=form).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.post("/token", data=form).status_code == 401
