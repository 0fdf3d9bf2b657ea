"""`/v1/users`: human identities, unique by name within one account, logging in by password."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer

PASSWORD = "correct horse battery"


def create_user(client: TestClient, headers: dict[str, str], name: str = "alice",
                password: str = PASSWORD) -> Any:
    return client.post("/v1/users", json={"name": name, "password": password}, headers=headers)


def login(client: TestClient, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/identity/token", data={"grant_type": "password", "username": username,
                                                "password": password, **extra})


def user_names(client: TestClient, headers: dict[str, str]) -> list[str]:
    r = client.get("/v1/users", headers=headers)
    assert r.status_code == 200, r.text
    return sorted(u["name"] for u in r.json()["data"])


@pytest.fixture
def other_account(client: TestClient, admin: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A second account (made by the operator) and its owner's headers."""
    r = client.post("/v1/accounts", json={"name": "tenant-b"}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["id"], bearer(client, r.json()["apikey"])


def test_create_user_returns_it_without_password(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    r = create_user(client, admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "alice"
    assert body["iam_id"].startswith("iam-User-")
    assert body["locked"] is False
    assert "password" not in body and "password_hash" not in body
    assert PASSWORD not in r.text


def test_read_and_list_users_never_show_password(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    for r in (client.get(f"/v1/users/{user['iam_id']}", headers=admin),
              client.get("/v1/users", headers=admin)):
        assert r.status_code == 200, r.text
        assert "password" not in r.text
        assert "argon2" not in r.text
    assert user_names(client, admin) == ["alice"]


def test_create_user_duplicate_name_is_409(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin)
    r = create_user(client, admin, password="another good password")
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "conflict"
    assert user_names(client, admin) == ["alice"]


def test_create_user_same_name_in_two_accounts_is_allowed(
        client: TestClient, admin: dict[str, str],
        other_account: tuple[str, dict[str, str]]) -> None:
    _, other = other_account
    assert create_user(client, admin).status_code == 201
    r = create_user(client, other)
    assert r.status_code == 201, r.text
    assert user_names(client, other) == ["alice"]


@pytest.mark.parametrize("password", [
    "short",                 # under 8 characters
    "x" * 257,               # over 256 characters
    "good password\x00",     # control character
    "good\npassword",
])
def test_create_user_with_bad_password_is_400(client: TestClient, admin: dict[str, str],
                                              password: str) -> None:
    r = create_user(client, admin, password=password)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_input"
    assert r.json()["errors"][0]["target"] == "password"
    assert user_names(client, admin) == []


def test_create_user_with_at_sign_in_name_is_400(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    r = create_user(client, admin, name="alice@example.com")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_input"
    assert r.json()["errors"][0]["target"] == "name"
    assert user_names(client, admin) == []


def test_password_grant_with_name_works(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin)
    r = login(client, "alice")
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


def test_password_grant_with_name_at_account_works(
        client: TestClient, admin: dict[str, str],
        other_account: tuple[str, dict[str, str]]) -> None:
    """The same name in two accounts: `name@account_id` says which one."""
    account_id, other = other_account
    create_user(client, admin)
    b_user = create_user(client, other, password="b's good password").json()
    r = login(client, f"alice@{account_id}", "b's good password")
    assert r.status_code == 200, r.text
    me = client.get(f"/v1/users/{b_user['iam_id']}",
                    headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["account_id"] == account_id


def test_password_grant_with_ambiguous_name_is_invalid_grant(
        client: TestClient, admin: dict[str, str],
        other_account: tuple[str, dict[str, str]]) -> None:
    _, other = other_account
    create_user(client, admin)
    create_user(client, other)
    r = login(client, "alice")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_password_grant_with_wrong_account_is_invalid_grant(
        client: TestClient, admin: dict[str, str],
        other_account: tuple[str, dict[str, str]]) -> None:
    account_id, _ = other_account
    create_user(client, admin)
    r = login(client, f"alice@{account_id}")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_user_reads_itself_without_policy(client: TestClient, admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    r = client.get(f"/v1/users/{user['iam_id']}", headers=me)
    assert r.status_code == 200, r.text
    assert r.json() == user


def test_user_without_policy_cannot_create_users(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    create_user(client, admin)
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    r = create_user(client, me, name="bob")
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == "forbidden"
    assert user_names(client, admin) == ["alice"]


def test_change_own_password_switches_login(client: TestClient, admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "a brand new password", "current_password": PASSWORD},
                   headers=me)
    assert r.status_code == 204, r.text
    assert login(client, "alice").status_code == 400
    assert login(client, "alice", "a brand new password").status_code == 200


def test_change_own_password_without_current_password_is_400(client: TestClient,
                                                             admin: dict[str, str]) -> None:
    """A bearer token alone must not become a permanent login."""
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "a brand new password"}, headers=me)
    assert r.status_code == 400
    assert r.json()["errors"][0]["target"] == "current_password"
    assert login(client, "alice").status_code == 200


def test_change_own_password_with_wrong_current_password_is_403(client: TestClient,
                                                                admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "a brand new password",
                         "current_password": "not the password"}, headers=me)
    assert r.status_code == 403
    assert "current_password" in r.json()["errors"][0]["message"]
    assert login(client, "alice").status_code == 200
    assert login(client, "alice", "a brand new password").status_code == 400


def test_change_own_password_ends_refresh_tokens(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    pair = login(client, "alice").json()
    me = {"Authorization": f"Bearer {pair['access_token']}"}
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "a brand new password", "current_password": PASSWORD},
                   headers=me)
    assert r.status_code == 204, r.text
    r = client.post("/identity/token", data={"grant_type": "refresh_token",
                                             "refresh_token": pair["refresh_token"]})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"


def test_administrator_sets_another_users_password_without_the_old_one(
        client: TestClient, admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    r = client.put(f"/v1/users/{user['iam_id']}/password",
                   json={"password": "a brand new password"}, headers=admin)
    assert r.status_code == 204, r.text
    assert login(client, "alice", "a brand new password").status_code == 200


def test_update_user_rename_to_taken_name_is_409(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    create_user(client, admin)
    bob = create_user(client, admin, name="bob").json()
    r = client.put(f"/v1/users/{bob['iam_id']}", json={"name": "alice"},
                   headers={**admin, "If-Match": bob["entity_tag"]})
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "conflict"
    assert user_names(client, admin) == ["alice", "bob"]


def test_update_user_with_current_tag_renames(client: TestClient, admin: dict[str, str]) -> None:
    bob = create_user(client, admin, name="bob").json()
    r = client.put(f"/v1/users/{bob['iam_id']}", json={"name": "robert"},
                   headers={**admin, "If-Match": bob["entity_tag"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "robert"
    assert r.json()["entity_tag"] != bob["entity_tag"]
    assert login(client, "robert").status_code == 200


def test_delete_user_removes_login_and_keys(client: TestClient, admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    key = client.post("/v1/apikeys", json={"name": "laptop"}, headers=me).json()
    r = client.delete(f"/v1/users/{user['iam_id']}", headers=admin)
    assert r.status_code == 204
    assert login(client, "alice").status_code == 400
    exchanged = client.post("/identity/token", data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key["apikey"]})
    assert exchanged.status_code == 400
    assert user_names(client, admin) == []


def test_read_user_unknown_is_404(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/users/iam-User-00000000-0000-0000-0000-000000000000", headers=admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


def test_update_user_with_at_sign_in_name_is_400(client: TestClient,
                                                 admin: dict[str, str]) -> None:
    """The '@' rule of creation holds for a rename too (it would break `name@account`)."""
    bob = create_user(client, admin, name="bob").json()
    r = client.put(f"/v1/users/{bob['iam_id']}", json={"name": "bob@example.com"},
                   headers={**admin, "If-Match": bob["entity_tag"]})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_input"
    assert r.json()["errors"][0]["target"] == "name"
    assert user_names(client, admin) == ["bob"]


def test_wrong_current_passwords_are_limited_like_logins(client: TestClient,
                                                         admin: dict[str, str]) -> None:
    """A stolen access token cannot try current passwords at will."""
    user = create_user(client, admin).json()
    me = {"Authorization": f"Bearer {login(client, 'alice').json()['access_token']}"}
    body = {"password": "a brand new password", "current_password": "a wrong guess"}
    statuses = [client.put(f"/v1/users/{user['iam_id']}/password", json=body,
                           headers=me).status_code for _ in range(11)]
    assert statuses[:10] == [403] * 10
    assert statuses[10] == 429


def test_lock_user_refuses_its_rename_and_deletion_until_unlocked(
        client: TestClient, admin: dict[str, str]) -> None:
    user = create_user(client, admin).json()
    path = f"/v1/users/{user['iam_id']}"
    r = client.post(f"{path}/lock", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["locked"] is True and r.json()["entity_tag"] != user["entity_tag"]
    tag = client.get(path, headers=admin).headers["ETag"]
    renamed = client.put(path, json={"name": "bob"}, headers={**admin, "If-Match": tag})
    deleted = client.delete(path, headers=admin)
    for refused in (renamed, deleted):
        assert refused.status_code == 409
        assert refused.json()["errors"][0]["code"] == "locked"
    assert user_names(client, admin) == ["alice"]
    r = client.delete(f"{path}/lock", headers=admin)
    assert r.status_code == 200 and r.json()["locked"] is False
    assert client.delete(path, headers=admin).status_code == 204
    assert user_names(client, admin) == []


def test_a_locked_user_still_signs_in(client: TestClient, admin: dict[str, str]) -> None:
    """Locked means protected from change and deletion (IBM's meaning), not disabled."""
    user = create_user(client, admin).json()
    assert client.post(f"/v1/users/{user['iam_id']}/lock", headers=admin).status_code == 200
    assert login(client, "alice").status_code == 200


def test_lock_user_needs_user_update(client: TestClient, admin: dict[str, str]) -> None:
    """An iam-identity Editor manages service IDs, not users: 403 naming the action."""
    user = create_user(client, admin).json()
    editor = client.post("/v1/serviceids", json={"name": "editor"}, headers=admin).json()
    client.post("/v1/policies", headers=admin, json={
        "subject": {"iam_id": editor["iam_id"]}, "roles": ["Editor"],
        "resource": {"service": "iam-identity"}}).raise_for_status()
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": editor["iam_id"]},
                      headers=admin).json()["apikey"]
    r = client.post(f"/v1/users/{user['iam_id']}/lock", headers=bearer(client, key))
    assert r.status_code == 403
    assert "iam-identity.user.update" in r.json()["errors"][0]["message"]
    assert client.get(f"/v1/users/{user['iam_id']}", headers=admin).json()["locked"] is False


def test_lock_another_accounts_user_is_404_like_an_unknown_one(
        client: TestClient, admin: dict[str, str],
        other_account: tuple[str, dict[str, str]]) -> None:
    user = create_user(client, admin).json()
    _, b = other_account
    foreign = client.post(f"/v1/users/{user['iam_id']}/lock", headers=b)
    unknown = client.post("/v1/users/iam-User-00000000-0000-0000-0000-000000000000/lock",
                          headers=b)
    assert foreign.status_code == unknown.status_code == 404
    assert client.get(f"/v1/users/{user['iam_id']}", headers=admin).json()["locked"] is False
