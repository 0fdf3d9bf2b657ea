"""A service ID named by its `ServiceId-...` id is judged as by its iam_id: the routes take
either, and the non-escalation rule must see the identity whatever name it came by (an
iam-identity Editor, who holds no Administrator, once locked, renamed and deleted the
account owner's service ID by its id)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import bearer


@pytest.fixture
def editor(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    sid = client.post("/v1/serviceids", json={"name": "editor"}, headers=admin).json()
    client.post("/v1/policies", headers=admin, json={
        "subject": {"iam_id": sid["iam_id"]}, "roles": ["Editor"],
        "resource": {"service": "iam-identity"}}).raise_for_status()
    key = client.post("/v1/apikeys", headers=admin,
                      json={"name": "k", "iam_id": sid["iam_id"]}).json()["apikey"]
    return bearer(client, key)


def _owner(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    listed = client.get("/v1/serviceids", headers=admin).json()["data"]
    found: dict[str, str] = next(s for s in listed if s["name"].endswith(" owner"))
    return found


def test_an_editor_cannot_lock_rename_or_delete_the_owner_by_its_service_id_id(
        client: TestClient, admin: dict[str, str], editor: dict[str, str]) -> None:
    owner = _owner(client, admin)
    path = f"/v1/serviceids/{owner['id']}"
    headers = {**editor, "If-Match": owner["entity_tag"]}
    for method, suffix, body in (("POST", "/lock", None), ("PUT", "", {"name": "mine now"}),
                                 ("DELETE", "", None)):
        r = client.request(method, path + suffix, headers=headers, json=body)
        assert r.status_code == 403, (method, r.text)
        assert r.json()["errors"][0]["message"] == (
            "the system operator's identity is managed only by itself")
    assert client.get(path, headers=admin).json() == owner  # unchanged


def test_an_editor_cannot_delete_a_more_privileged_robot_by_its_id(
        client: TestClient, admin: dict[str, str], editor: dict[str, str]) -> None:
    robot = client.post("/v1/serviceids", json={"name": "admin-robot"}, headers=admin).json()
    client.post("/v1/policies", headers=admin, json={
        "subject": {"iam_id": robot["iam_id"]}, "roles": ["Administrator"],
        "resource": {"service": "iam-access-management"}}).raise_for_status()
    r = client.delete(f"/v1/serviceids/{robot['id']}", headers=editor)
    assert r.status_code == 403
    assert "which you could not grant" in r.json()["errors"][0]["message"]
    assert client.get(f"/v1/serviceids/{robot['id']}", headers=admin).status_code == 200
