"""`/v1/apikeys`: the key value is shown once; lock, disable, expiry, delete, activity."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, create_engine, select

from iam.config import Settings
from tests.conftest import bearer

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
PASSWORD = "correct horse battery"


def exchange(client: TestClient, apikey: str) -> Any:
    return client.post("/identity/token", data={"grant_type": APIKEY_GRANT, "apikey": apikey})


@pytest.fixture
def robot(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    r = client.post("/v1/serviceids", json={"name": "robot"}, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def create_key(client: TestClient, headers: dict[str, str], iam_id: str | None = None,
               **extra: Any) -> Any:
    body: dict[str, Any] = {"name": "ci", **extra}
    if iam_id is not None:
        body["iam_id"] = iam_id
    return client.post("/v1/apikeys", json=body, headers=headers)


@pytest.fixture
def key(client: TestClient, admin: dict[str, str], robot: dict[str, Any]) -> dict[str, Any]:
    r = create_key(client, admin, robot["iam_id"], description="pushes images")
    assert r.status_code == 201, r.text
    return dict(r.json())


# --- the value exists once ------------------------------------------------------------------

def test_create_api_key_returns_the_value_once(client: TestClient, key: dict[str, Any],
                                               robot: dict[str, Any]) -> None:
    assert key["apikey"].startswith("riam_")
    assert key["id"].startswith("ApiKey-")
    assert key["iam_id"] == robot["iam_id"]
    assert key["name"] == "ci"
    assert key["description"] == "pushes images"
    assert key["locked"] is False and key["disabled"] is False
    assert key["authn_count"] == 0 and key["last_authn"] is None
    assert exchange(client, key["apikey"]).status_code == 200


def test_read_api_key_never_shows_the_value(client: TestClient, admin: dict[str, str],
                                            key: dict[str, Any]) -> None:
    r = client.get(f"/v1/apikeys/{key['id']}", headers=admin)
    assert r.status_code == 200, r.text
    assert "apikey" not in r.json()
    assert key["apikey"] not in r.text
    assert r.json()["name"] == "ci"
    assert r.headers["etag"] == key["entity_tag"]


def test_list_api_keys_never_shows_the_value(client: TestClient, admin: dict[str, str],
                                             key: dict[str, Any]) -> None:
    for params in ({}, {"iam_id": key["iam_id"]}):
        r = client.get("/v1/apikeys", params=params, headers=admin)
        assert r.status_code == 200, r.text
        assert key["id"] in [k["id"] for k in r.json()["data"]]
        assert all("apikey" not in k for k in r.json()["data"])
        assert key["apikey"] not in r.text


def test_list_api_keys_of_one_owner_shows_only_its_keys(client: TestClient,
                                                        admin: dict[str, str],
                                                        key: dict[str, Any]) -> None:
    r = client.get("/v1/apikeys", params={"iam_id": key["iam_id"]}, headers=admin)
    assert r.status_code == 200
    assert [k["id"] for k in r.json()["data"]] == [key["id"]]
    assert r.json()["count"] == 1


def test_update_api_key_never_shows_the_value(client: TestClient, admin: dict[str, str],
                                              key: dict[str, Any]) -> None:
    r = client.put(f"/v1/apikeys/{key['id']}", json={"name": "renamed"},
                   headers={**admin, "If-Match": key["entity_tag"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed"
    assert r.json()["entity_tag"] != key["entity_tag"]
    assert "apikey" not in r.json()
    assert key["apikey"] not in r.text


def test_update_api_key_without_if_match_is_428(client: TestClient, admin: dict[str, str],
                                                key: dict[str, Any]) -> None:
    r = client.put(f"/v1/apikeys/{key['id']}", json={"name": "renamed"}, headers=admin)
    assert r.status_code == 428
    assert r.json()["errors"][0]["code"] == "precondition_required"


def _database_text(settings: Settings) -> str:
    engine = create_engine(settings.db_url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        with engine.connect() as conn:
            return "\n".join(repr(row) for table in metadata.sorted_tables
                             for row in conn.execute(select(table)))
    finally:
        engine.dispose()


def test_database_never_holds_the_value(client: TestClient, key: dict[str, Any],
                                        settings: Settings) -> None:
    assert exchange(client, key["apikey"]).status_code == 200
    text = _database_text(settings)
    assert key["id"] in text  # the scan did see the key's row
    assert key["apikey"] not in text
    assert key["apikey"][5:] not in text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a check of the file
def test_sqlite_file_never_holds_the_value(client: TestClient, key: dict[str, Any],
                                           settings: Settings) -> None:
    files = list(Path(settings.data_dir).glob("iam.db*"))
    assert files
    for path in files:
        data = path.read_bytes()
        assert key["apikey"].encode() not in data
        assert key["apikey"][5:].encode() not in data


# --- lock, disable, expiry, delete ---------------------------------------------------------

def test_locked_key_still_authenticates(client: TestClient, admin: dict[str, str],
                                        key: dict[str, Any]) -> None:
    r = client.post(f"/v1/apikeys/{key['id']}/lock", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["locked"] is True
    assert exchange(client, key["apikey"]).status_code == 200


def test_delete_locked_key_is_409(client: TestClient, admin: dict[str, str],
                                  key: dict[str, Any]) -> None:
    client.post(f"/v1/apikeys/{key['id']}/lock", headers=admin)
    r = client.delete(f"/v1/apikeys/{key['id']}", headers=admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "locked"
    assert "unlock" in r.json()["errors"][0]["message"]
    assert exchange(client, key["apikey"]).status_code == 200


def test_update_locked_key_is_409(client: TestClient, admin: dict[str, str],
                                  key: dict[str, Any]) -> None:
    locked = client.post(f"/v1/apikeys/{key['id']}/lock", headers=admin).json()
    r = client.put(f"/v1/apikeys/{key['id']}", json={"name": "renamed"},
                   headers={**admin, "If-Match": locked["entity_tag"]})
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "locked"
    assert client.get(f"/v1/apikeys/{key['id']}", headers=admin).json()["name"] == "ci"


def test_disable_locked_key_is_409(client: TestClient, admin: dict[str, str],
                                   key: dict[str, Any]) -> None:
    client.post(f"/v1/apikeys/{key['id']}/lock", headers=admin)
    r = client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "locked"
    assert exchange(client, key["apikey"]).status_code == 200


def test_delete_unlocked_key_is_204(client: TestClient, admin: dict[str, str],
                                    key: dict[str, Any]) -> None:
    client.post(f"/v1/apikeys/{key['id']}/lock", headers=admin)
    assert client.delete(f"/v1/apikeys/{key['id']}/lock", headers=admin).json()["locked"] is False
    r = client.delete(f"/v1/apikeys/{key['id']}", headers=admin)
    assert r.status_code == 204
    assert client.get(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 404


def test_disabled_key_cannot_authenticate(client: TestClient, admin: dict[str, str],
                                          key: dict[str, Any]) -> None:
    r = client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True
    r = exchange(client, key["apikey"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_disabled_key_access_token_is_refused(client: TestClient, admin: dict[str, str],
                                              key: dict[str, Any]) -> None:
    robot = bearer(client, key["apikey"])
    client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin)
    r = client.get("/v1/serviceids", headers=robot)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "unauthorized"


def test_enabled_key_authenticates_again(client: TestClient, admin: dict[str, str],
                                         key: dict[str, Any]) -> None:
    client.post(f"/v1/apikeys/{key['id']}/disable", headers=admin)
    r = client.delete(f"/v1/apikeys/{key['id']}/disable", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is False
    assert exchange(client, key["apikey"]).status_code == 200


def test_expired_key_cannot_authenticate(client: TestClient, admin: dict[str, str],
                                         robot: dict[str, Any]) -> None:
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    r = create_key(client, admin, robot["iam_id"], expires_at=soon.isoformat())
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"] is not None
    headers = bearer(client, r.json()["apikey"])
    time.sleep(2)
    refused = exchange(client, r.json()["apikey"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert client.get("/v1/serviceids", headers=headers).status_code == 401


@pytest.mark.parametrize("expires_at", [
    "2020-01-01T00:00:00Z",
    "2999-01-01T00:00:00",
])
def test_create_api_key_with_bad_expiry_is_400(client: TestClient, admin: dict[str, str],
                                               robot: dict[str, Any], expires_at: str) -> None:
    r = create_key(client, admin, robot["iam_id"], expires_at=expires_at)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_input"
    assert r.json()["errors"][0]["target"] == "expires_at"
    listed = client.get("/v1/apikeys", params={"iam_id": robot["iam_id"]}, headers=admin)
    assert listed.json()["count"] == 0


def test_deleted_key_cannot_authenticate(client: TestClient, admin: dict[str, str],
                                         key: dict[str, Any]) -> None:
    assert client.delete(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 204
    r = exchange(client, key["apikey"])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_create_api_key_for_unknown_owner_is_404(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    r = create_key(client, admin, "iam-ServiceId-00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


# --- a user's own keys ----------------------------------------------------------------------

@pytest.fixture
def alice(client: TestClient, admin: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A user without any policy, and its bearer headers."""
    user = client.post("/v1/users", json={"name": "alice", "password": PASSWORD}, headers=admin)
    assert user.status_code == 201, user.text
    r = client.post("/identity/token", data={"grant_type": "password", "username": "alice",
                                             "password": PASSWORD})
    assert r.status_code == 200, r.text
    return user.json(), {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_user_creates_own_key_without_policy(client: TestClient,
                                             alice: tuple[dict[str, Any], dict[str, str]]) -> None:
    user, headers = alice
    r = create_key(client, headers)
    assert r.status_code == 201, r.text
    assert r.json()["iam_id"] == user["iam_id"]
    assert exchange(client, r.json()["apikey"]).status_code == 200


def test_user_lists_and_manages_own_keys(client: TestClient,
                                         alice: tuple[dict[str, Any], dict[str, str]]) -> None:
    user, headers = alice
    key = create_key(client, headers).json()
    listed = client.get("/v1/apikeys", params={"iam_id": user["iam_id"]}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert [k["id"] for k in listed.json()["data"]] == [key["id"]]
    put = client.put(f"/v1/apikeys/{key['id']}", json={"name": "laptop"},
                     headers={**headers, "If-Match": key["entity_tag"]})
    assert put.status_code == 200, put.text
    assert client.post(f"/v1/apikeys/{key['id']}/disable", headers=headers).status_code == 200
    assert client.delete(f"/v1/apikeys/{key['id']}", headers=headers).status_code == 204


def test_user_without_policy_cannot_create_service_id_key(
        client: TestClient, alice: tuple[dict[str, Any], dict[str, str]],
        robot: dict[str, Any]) -> None:
    _, headers = alice
    r = create_key(client, headers, robot["iam_id"])
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "forbidden"


def test_user_without_policy_cannot_read_service_id_key(
        client: TestClient, alice: tuple[dict[str, Any], dict[str, str]],
        key: dict[str, Any]) -> None:
    _, headers = alice
    r = client.get(f"/v1/apikeys/{key['id']}", headers=headers)
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "forbidden"


# --- activity -------------------------------------------------------------------------------

def test_key_activity_is_recorded_after_flush(client: TestClient, admin: dict[str, str],
                                              key: dict[str, Any]) -> None:
    before = datetime.now(UTC)
    for _ in range(3):
        assert exchange(client, key["apikey"]).status_code == 200
    deadline = time.monotonic() + 5
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/apikeys/{key['id']}", headers=admin).json()
        if body["authn_count"] == 3:
            break
        time.sleep(0.1)
    assert body["authn_count"] == 3
    assert body["last_authn"] is not None
    last = datetime.fromisoformat(body["last_authn"].replace("Z", "+00:00"))
    assert last >= before - timedelta(seconds=1)
