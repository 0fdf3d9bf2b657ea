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


# --- trusted profiles, their rules and issuers ------------------------------------------------

ISSUER_JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
                         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
UNKNOWN_FEDERATED = {
    "profiles": "Profile-00000000-0000-0000-0000-000000000000",
    "issuers": "Issuer-00000000-0000-0000-0000-000000000000",
}
FEDERATED_BODIES = {"profiles": {"name": "x"}, "issuers": {"max_token_age": 600}}


@pytest.fixture
def federated_a(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    """Account A's issuer and trusted profile with a rule."""
    issuer = created(client.post("/v1/issuers", headers=admin, json={
        "url": "https://issuer.a.example", "audiences": ["registry-iam"],
        "jwks": ISSUER_JWKS}))
    profile = created(client.post("/v1/profiles", json={"name": "a-profile"}, headers=admin))
    rule = created(client.post(f"/v1/profiles/{profile['id']}/rules", headers=admin, json={
        "name": "r", "issuer": issuer["url"],
        "conditions": [{"claim": "sub", "operator": "EQUALS", "value": "x"}]}))
    return {"issuers": issuer, "profiles": profile, "rule": rule}


@pytest.mark.parametrize("resource", ["profiles", "issuers"])
def test_read_foreign_federated_entity_is_404_like_unknown(
        client: TestClient, federated_a: dict[str, Any], b_admin: dict[str, str],
        resource: str) -> None:
    foreign_id = federated_a[resource]["id"]
    foreign = client.get(f"/v1/{resource}/{foreign_id}", headers=b_admin)
    unknown = client.get(f"/v1/{resource}/{UNKNOWN_FEDERATED[resource]}", headers=b_admin)
    same_as_unknown(foreign, unknown, foreign_id, UNKNOWN_FEDERATED[resource])


@pytest.mark.parametrize("resource", ["profiles", "issuers"])
def test_update_and_delete_foreign_federated_entity_is_404_like_unknown(
        client: TestClient, federated_a: dict[str, Any], b_admin: dict[str, str],
        admin: dict[str, str], resource: str) -> None:
    entity = federated_a[resource]
    headers = {**b_admin, "If-Match": entity["entity_tag"]}
    unknown_id = UNKNOWN_FEDERATED[resource]
    for method, body in (("PUT", FEDERATED_BODIES[resource]), ("DELETE", None)):
        foreign = client.request(method, f"/v1/{resource}/{entity['id']}", json=body,
                                 headers=headers)
        unknown = client.request(method, f"/v1/{resource}/{unknown_id}", json=body,
                                 headers=headers)
        same_as_unknown(foreign, unknown, entity["id"], unknown_id)
    after = client.get(f"/v1/{resource}/{entity['id']}", headers=admin)
    assert after.json()["entity_tag"] == entity["entity_tag"]


def test_foreign_profiles_rules_are_404(client: TestClient, federated_a: dict[str, Any],
                                        b_admin: dict[str, str]) -> None:
    path = f"/v1/profiles/{federated_a['profiles']['id']}/rules"
    assert client.get(path, headers=b_admin).status_code == 404
    r = client.delete(f"{path}/{federated_a['rule']['id']}", headers=b_admin)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"


def test_list_profiles_and_issuers_show_only_own_account(
        client: TestClient, federated_a: dict[str, Any], b_admin: dict[str, str]) -> None:
    for resource in ("profiles", "issuers"):
        r = client.get(f"/v1/{resource}", headers=b_admin)
        assert r.status_code == 200
        assert r.json() == {"data": [], "count": 0, "limit": 100, "next_pagestart": None}


def test_rule_naming_an_issuer_only_another_account_registered_is_404(
        client: TestClient, federated_a: dict[str, Any], b_admin: dict[str, str]) -> None:
    profile = created(client.post("/v1/profiles", json={"name": "b-profile"}, headers=b_admin))
    r = client.post(f"/v1/profiles/{profile['id']}/rules", headers=b_admin, json={
        "name": "r", "issuer": federated_a["issuers"]["url"],
        "conditions": [{"claim": "sub", "operator": "EQUALS", "value": "x"}]})
    assert r.status_code == 404 and r.json()["errors"][0]["target"] == "issuer"


def test_policy_for_a_foreign_profile_is_404(client: TestClient, federated_a: dict[str, Any],
                                            b_admin: dict[str, str]) -> None:
    r = client.post("/v1/policies", headers=b_admin, json={
        "subject": {"iam_id": federated_a["profiles"]["iam_id"]}, "roles": ["Reader"],
        "resource": {"service": "container-registry"}})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
