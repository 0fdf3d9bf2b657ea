"""Service IDs through the admin API."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_create_service_id_returns_its_ids(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/serviceids", json={"name": "ci-robot", "description": "CI"},
                    headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("ServiceId-")
    assert body["iam_id"] == f"iam-{body['id']}"
    assert body["name"] == "ci-robot"
    assert body["locked"] is False
