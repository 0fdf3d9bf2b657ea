"""Accounts are sealed: another account's entities answer exactly like unknown ones."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer

PASSWORD = "correct horse battery"


def created(r: Any) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def account_a(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """Account A (the system account) with a service ID, its key, a user and its key."""
    sid = created(client.post("/v1/serviceids", json={"name": "a-robot"}, headers=admin))
    key = created(client.post("/v1/apikeys", json={"name": "a-key", "iam_id": sid["iam_id"]},
                              headers=admin))
    user = created(client.post("/v1/users", json={"name": "a-user", "password": PASSWORD},
                               headers=admin))
    return {"sid": sid, "key": key, "user": user}


@pytest.fixture
def b_admin(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    """The owner of account B, created by the operator."""
    r = client.post("/v1/accounts", json={"name": "tenant-b"}, headers=admin)
    assert r.status_code == 201, r.text
    return bearer(client, r.json()["apikey"])


def same_as_unknown(foreign: Any, unknown: Any, foreign_id: str, unknown_id: str) -> None:
    assert foreign.status_code == unknown.status_code == 404
    f_errors = foreign.json()["errors"]
    u_errors = unknown.json()["errors"]
    f_errors[0]["message"] = f_errors[0]["message"].replace(foreign_id, "ID")
    u_errors[0]["message"] = u_errors[0]["message"].replace(unknown_id, "ID")
    assert f_errors == u_errors
    assert f_errors[0]["code"] == "not_found"


UNKNOWN = {
    "serviceids": "ServiceId-00000000-0000-0000-0000-000000000000",
    "apikeys": "ApiKey-00000000-0000-0000-0000-000000000000",
    "users": "iam-User-00000000-0000-0000-0000-000000000000",
}
FOREIGN = {"serviceids": ("sid", "id"), "apikeys": ("key", "id"), "users": ("user", "iam_id")}
BODIES = {"serviceids": {"name": "x"}, "apikeys": {"name": "x"}, "users": {"name": "x"}}


def test_create_account_returns_owner_and_key_once(client: TestClient,
                                                   admin: dict[str, str]) -> None:
    r = client.post("/v1/accounts", json={"name": "tenant-b"}, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "tenant-b"
    assert body["owner_iam_id"] == f"iam-{body['owner_service_id']}"
    assert body["apikey"].startswith("riam_")
    b = bearer(client, body["apikey"])
    listed = client.get("/v1/serviceids", headers=b).json()
    assert [s["iam_id"] for s in listed["data"]] == [body["owner_iam_id"]]


def test_create_account_by_non_operator_is_403(client: TestClient, b_admin: dict[str, str],
                                               admin: dict[str, str]) -> None:
    r = client.post("/v1/accounts", json={"name": "tenant-c"}, headers=b_admin)
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "forbidden"


@pytest.mark.parametrize("resource", ["serviceids", "apikeys", "users"])
def test_read_foreign_entity_is_404_like_unknown(client: TestClient, account_a: dict[str, Any],
                                                 b_admin: dict[str, str], resource: str) -> None:
    entity, field = FOREIGN[resource]
    foreign_id = account_a[entity][field]
    foreign = client.get(f"/v1/{resource}/{foreign_id}", headers=b_admin)
    unknown = client.get(f"/v1/{resource}/{UNKNOWN[resource]}", headers=b_admin)
    same_as_unknown(foreign, unknown, foreign_id, UNKNOWN[resource])


@pytest.mark.parametrize("resource", ["serviceids", "apikeys", "users"])
def test_update_foreign_entity_is_404_like_unknown(client: TestClient, account_a: dict[str, Any],
                                                   b_admin: dict[str, str], admin: dict[str, str],
                                                   resource: str) -> None:
    entity, field = FOREIGN[resource]
    foreign_id = account_a[entity][field]
    headers = {**b_admin, "If-Match": account_a[entity]["entity_tag"]}
    foreign = client.put(f"/v1/{resource}/{foreign_id}", json=BODIES[resource], headers=headers)
    unknown = client.put(f"/v1/{resource}/{UNKNOWN[resource]}", json=BODIES[resource],
                         headers=headers)
    same_as_unknown(foreign, unknown, foreign_id, UNKNOWN[resource])
    after = client.get(f"/v1/{resource}/{foreign_id}", headers=admin)
    assert after.json()["entity_tag"] == account_a[entity]["entity_tag"]


@pytest.mark.parametrize("resource", ["serviceids", "apikeys", "users"])
def test_delete_foreign_entity_is_404_like_unknown(client: TestClient, account_a: dict[str, Any],
                                                   b_admin: dict[str, str], admin: dict[str, str],
                                                   resource: str) -> None:
    entity, field = FOREIGN[resource]
    foreign_id = account_a[entity][field]
    foreign = client.delete(f"/v1/{resource}/{foreign_id}", headers=b_admin)
    unknown = client.delete(f"/v1/{resource}/{UNKNOWN[resource]}", headers=b_admin)
    same_as_unknown(foreign, unknown, foreign_id, UNKNOWN[resource])
    assert client.get(f"/v1/{resource}/{foreign_id}", headers=admin).status_code == 200


@pytest.mark.parametrize("action", ["lock", "disable"])
def test_flag_foreign_key_is_404(client: TestClient, account_a: dict[str, Any],
                                 b_admin: dict[str, str], admin: dict[str, str],
                                 action: str) -> None:
    key_id = account_a["key"]["id"]
    r = client.post(f"/v1/apikeys/{key_id}/{action}", headers=b_admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
    after = client.get(f"/v1/apikeys/{key_id}", headers=admin).json()
    assert after["locked"] is False and after["disabled"] is False


def test_lock_foreign_service_id_is_404(client: TestClient, account_a: dict[str, Any],
                                        b_admin: dict[str, str], admin: dict[str, str]) -> None:
    sid = account_a["sid"]["id"]
    r = client.post(f"/v1/serviceids/{sid}/lock", headers=b_admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
    assert client.get(f"/v1/serviceids/{sid}", headers=admin).json()["locked"] is False


def test_list_service_ids_shows_only_own_account(client: TestClient, account_a: dict[str, Any],
                                                 b_admin: dict[str, str]) -> None:
    r = client.get("/v1/serviceids", headers=b_admin)
    assert r.status_code == 200
    assert r.json()["count"] == 1
    assert account_a["sid"]["id"] not in r.text
    assert "a-robot" not in r.text


def test_list_service_ids_by_name_hides_foreign(client: TestClient, account_a: dict[str, Any],
                                                b_admin: dict[str, str]) -> None:
    r = client.get("/v1/serviceids", params={"name": "a-robot"}, headers=b_admin)
    assert r.status_code == 200
    assert r.json()["data"] == [] and r.json()["count"] == 0


def test_list_api_keys_shows_only_own_account(client: TestClient, account_a: dict[str, Any],
                                              b_admin: dict[str, str]) -> None:
    r = client.get("/v1/apikeys", headers=b_admin)
    assert r.status_code == 200
    assert account_a["key"]["id"] not in r.text
    assert r.json()["count"] == 1  # B's own bootstrap key


def test_list_api_keys_of_foreign_owner_is_like_unknown_owner(client: TestClient,
                                                              account_a: dict[str, Any],
                                                              b_admin: dict[str, str]) -> None:
    r = client.get("/v1/apikeys", params={"iam_id": account_a["sid"]["iam_id"]},
                   headers=b_admin)
    unknown = client.get("/v1/apikeys", params={"iam_id": "iam-" + UNKNOWN["serviceids"]},
                         headers=b_admin)
    assert r.status_code == unknown.status_code == 200, r.text
    assert r.json() == unknown.json() == {"data": [], "count": 0, "limit": 100,
                                          "next_pagestart": None}


def test_list_users_shows_only_own_account(client: TestClient, account_a: dict[str, Any],
                                           b_admin: dict[str, str]) -> None:
    r = client.get("/v1/users", headers=b_admin)
    assert r.status_code == 200
    assert r.json() == {"data": [], "count": 0, "limit": 100, "next_pagestart": None}


def test_create_key_for_foreign_service_id_is_404(client: TestClient, account_a: dict[str, Any],
                                                  b_admin: dict[str, str],
                                                  admin: dict[str, str]) -> None:
    r = client.post("/v1/apikeys", json={"name": "steal", "iam_id": account_a["sid"]["iam_id"]},
                    headers=b_admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
    listed = client.get("/v1/apikeys", params={"iam_id": account_a["sid"]["iam_id"]},
                        headers=admin)
    assert listed.json()["count"] == 1


def test_create_key_for_foreign_user_is_404(client: TestClient, account_a: dict[str, Any],
                                            b_admin: dict[str, str]) -> None:
    r = client.post("/v1/apikeys", json={"name": "steal", "iam_id": account_a["user"]["iam_id"]},
                    headers=b_admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


def test_change_foreign_user_password_is_404(client: TestClient, account_a: dict[str, Any],
                                             b_admin: dict[str, str]) -> None:
    r = client.put(f"/v1/users/{account_a['user']['iam_id']}/password",
                   json={"password": "hijacked password"}, headers=b_admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
    login = client.post("/identity/token", data={"grant_type": "password",
                                                 "username": "a-user", "password": PASSWORD})
    assert login.status_code == 200


def test_create_account_with_longest_name_is_201(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    """A 256-character account name is valid, though its owner's name adds " owner"."""
    r = client.post("/v1/accounts", json={"name": "a" * 256}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "a" * 256
    owner = bearer(client, r.json()["apikey"])
    listed = client.get("/v1/serviceids", headers=owner).json()["data"]
    assert len(listed[0]["name"]) <= 256
    assert listed[0]["name"].endswith(" owner")
