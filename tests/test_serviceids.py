"""Service IDs through the admin API."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Owner, bearer

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def test_create_service_id_returns_its_ids(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/serviceids", json={"name": "ci-robot", "description": "CI"},
                    headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("ServiceId-")
    assert body["iam_id"] == f"iam-{body['id']}"
    assert body["name"] == "ci-robot"
    assert body["locked"] is False


# --- helpers -------------------------------------------------------------------------------

def create(client: TestClient, admin: dict[str, str], name: str = "robot",
           description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if description is not None:
        body["description"] = description
    r = client.post("/v1/serviceids", json=body, headers=admin)
    assert r.status_code == 201, r.text
    return dict(r.json())


def with_tag(admin: dict[str, str], tag: str) -> dict[str, str]:
    return {**admin, "If-Match": tag}


def names(client: TestClient, admin: dict[str, str]) -> list[str]:
    r = client.get("/v1/serviceids", headers=admin)
    assert r.status_code == 200, r.text
    return sorted(s["name"] for s in r.json()["data"])


# --- read ----------------------------------------------------------------------------------

def test_read_service_id_returns_it_with_etag(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin, description="builds")
    r = client.get(f"/v1/serviceids/{sid['id']}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == sid
    assert r.headers["etag"] == sid["entity_tag"]


def test_read_service_id_by_iam_id_returns_it(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    r = client.get(f"/v1/serviceids/{sid['iam_id']}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sid["id"]


def test_read_service_id_unknown_is_404(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/serviceids/ServiceId-00000000-0000-0000-0000-000000000000",
                   headers=admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


# --- list and pagination -------------------------------------------------------------------

def test_list_service_ids_includes_owner_and_created(client: TestClient,
                                                     admin: dict[str, str]) -> None:
    create(client, admin, "a")
    r = client.get("/v1/serviceids", headers=admin)
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    assert "a" in [s["name"] for s in body["data"]]
    assert body["next_pagestart"] is None


def test_list_service_ids_pages_through_everything(client: TestClient,
                                                   admin: dict[str, str]) -> None:
    created = {create(client, admin, f"robot-{i}")["id"] for i in range(5)}
    seen: list[str] = []
    start: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if start:
            params["pagestart"] = start
        r = client.get("/v1/serviceids", params=params, headers=admin)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == 6
        assert body["limit"] == 2
        assert len(body["data"]) <= 2
        seen += [s["id"] for s in body["data"]]
        pages += 1
        start = body["next_pagestart"]
        if start is None:
            break
    assert pages in (3, 4)
    assert len(seen) == len(set(seen)) == 6
    assert created <= set(seen)


def test_list_service_ids_filters_by_name(client: TestClient, admin: dict[str, str]) -> None:
    create(client, admin, "wanted")
    create(client, admin, "other")
    r = client.get("/v1/serviceids", params={"name": "wanted"}, headers=admin)
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["data"]] == ["wanted"]
    assert r.json()["count"] == 1


@pytest.mark.parametrize("limit", [0, -1, 1001, "x"])
def test_list_service_ids_with_bad_limit_is_400(client: TestClient, admin: dict[str, str],
                                                limit: Any) -> None:
    r = client.get("/v1/serviceids", params={"limit": limit}, headers=admin)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "invalid_input"
    assert r.json()["errors"][0]["target"] == "limit"


# --- update with If-Match ------------------------------------------------------------------

def test_update_service_id_without_if_match_is_428(client: TestClient,
                                                   admin: dict[str, str]) -> None:
    sid = create(client, admin)
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "renamed"}, headers=admin)
    assert r.status_code == 428
    assert r.json()["errors"][0]["code"] == "precondition_required"
    assert names(client, admin) == ["default owner", "robot"]


def test_update_service_id_with_stale_tag_is_412_and_changes_nothing(
        client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    first = client.put(f"/v1/serviceids/{sid['id']}", json={"description": "v2"},
                       headers=with_tag(admin, sid["entity_tag"]))
    assert first.status_code == 200, first.text
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "lost"},
                   headers=with_tag(admin, sid["entity_tag"]))
    assert r.status_code == 412
    assert r.json()["errors"][0]["code"] == "precondition_failed"
    assert client.get(f"/v1/serviceids/{sid['id']}", headers=admin).json() == first.json()


def test_update_service_id_with_current_tag_returns_new_tag(client: TestClient,
                                                            admin: dict[str, str]) -> None:
    sid = create(client, admin)
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "renamed", "description": "d"},
                   headers=with_tag(admin, sid["entity_tag"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "renamed"
    assert body["description"] == "d"
    assert body["entity_tag"] != sid["entity_tag"]
    assert body["modified_at"] >= sid["modified_at"]
    assert client.get(f"/v1/serviceids/{sid['id']}", headers=admin).json() == body


def test_update_service_id_accepts_quoted_etag(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "renamed"},
                   headers=with_tag(admin, f'"{sid["entity_tag"]}"'))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "renamed"


def test_update_service_id_unknown_is_404(client: TestClient, admin: dict[str, str]) -> None:
    r = client.put("/v1/serviceids/ServiceId-nope", json={"name": "x"},
                   headers=with_tag(admin, "abc"))
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"


# --- lock ----------------------------------------------------------------------------------

def test_lock_service_id_sets_locked(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    r = client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["locked"] is True
    assert r.json()["entity_tag"] != sid["entity_tag"]


def test_update_locked_service_id_is_409(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    locked = client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin).json()
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "renamed"},
                   headers=with_tag(admin, locked["entity_tag"]))
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "locked"
    assert "unlock" in r.json()["errors"][0]["message"]
    assert names(client, admin) == ["default owner", "robot"]


def test_delete_locked_service_id_is_409(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin)
    r = client.delete(f"/v1/serviceids/{sid['id']}", headers=admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "locked"
    assert "unlock" in r.json()["errors"][0]["message"]
    assert client.get(f"/v1/serviceids/{sid['id']}", headers=admin).status_code == 200


def test_delete_unlocked_service_id_is_204(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin)
    unlocked = client.delete(f"/v1/serviceids/{sid['id']}/lock", headers=admin)
    assert unlocked.status_code == 200
    assert unlocked.json()["locked"] is False
    r = client.delete(f"/v1/serviceids/{sid['id']}", headers=admin)
    assert r.status_code == 204
    assert r.content == b""
    assert client.get(f"/v1/serviceids/{sid['id']}", headers=admin).status_code == 404


def test_lock_service_id_keeps_its_keys_working(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]},
                      headers=admin).json()
    client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin)
    r = client.post("/identity/token", data={"grant_type": APIKEY_GRANT,
                                             "apikey": key["apikey"]})
    assert r.status_code == 200, r.text


# --- delete --------------------------------------------------------------------------------

def test_delete_service_id_deletes_its_keys(client: TestClient, admin: dict[str, str]) -> None:
    sid = create(client, admin)
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]},
                      headers=admin).json()
    assert client.delete(f"/v1/serviceids/{sid['id']}", headers=admin).status_code == 204
    r = client.post("/identity/token", data={"grant_type": APIKEY_GRANT,
                                             "apikey": key["apikey"]})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    assert client.get(f"/v1/apikeys/{key['id']}", headers=admin).status_code == 404


def test_delete_service_id_ends_its_access_tokens(client: TestClient,
                                                  admin: dict[str, str]) -> None:
    sid = create(client, admin)
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]},
                      headers=admin).json()
    robot = bearer(client, key["apikey"])
    client.delete(f"/v1/serviceids/{sid['id']}", headers=admin)
    r = client.get(f"/v1/apikeys/{key['id']}", headers=robot)
    assert r.status_code == 401


def test_delete_owner_service_id_is_409(client: TestClient, owner: Owner,
                                        admin: dict[str, str]) -> None:
    r = client.delete(f"/v1/serviceids/{owner.iam_id}", headers=admin)
    assert r.status_code == 409
    assert r.json()["errors"][0]["code"] == "conflict"
    assert client.get("/v1/serviceids", headers=admin).json()["count"] == 1
    assert client.get("/v1/serviceids", headers=admin).status_code == 200


def test_delete_service_id_unknown_is_404(client: TestClient, admin: dict[str, str]) -> None:
    r = client.delete("/v1/serviceids/ServiceId-nope", headers=admin)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
