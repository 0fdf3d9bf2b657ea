"""The audit trail: authentications and their failures, readable by policy."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.conftest import Owner

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def _events(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, str]]:
    deadline = time.monotonic() + 5
    while True:
        r = client.get("/v1/audit-events", params=params, headers=headers)
        assert r.status_code == 200, r.text
        data: list[dict[str, str]] = r.json()["data"]
        if data or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def test_successful_key_exchange_is_audited_without_the_key(
        client: TestClient, admin: dict[str, str], owner: Owner) -> None:
    events = _events(client, admin, action="iam.identity.token", outcome="success")
    assert events and events[0]["actor"] == owner.iam_id
    assert owner.apikey not in str(events)
    assert "apikey_id" in events[0]["detail"]


def test_failed_key_exchange_is_throttled_after_the_limit(client: TestClient) -> None:
    bad = {"grant_type": APIKEY_GRANT, "apikey": "riam_" + "A" * 49}
    codes = [client.post("/identity/token", data=bad).status_code for _ in range(11)]
    assert codes[:10] == [400] * 10
    assert codes[10] == 429


def test_throttled_answer_carries_retry_after(client: TestClient) -> None:
    bad = {"grant_type": APIKEY_GRANT, "apikey": "riam_" + "B" * 49}
    for _ in range(10):
        client.post("/identity/token", data=bad)
    r = client.post("/identity/token", data=bad)
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["errors"][0]["code"] == "too_many_requests"


def test_audit_events_need_a_token(client: TestClient) -> None:
    r = client.get("/v1/audit-events")
    assert r.status_code == 401


def test_admin_change_is_audited_with_after_state(
        client: TestClient, admin: dict[str, str], owner: Owner) -> None:
    sid = client.post("/v1/serviceids", json={"name": "audited"}, headers=admin).json()
    events = _events(client, admin, action="admin.create_service_id")
    assert events[0]["actor"] == owner.iam_id and events[0]["outcome"] == "success"
    assert sid["id"] in events[0]["detail"]


def test_created_key_value_is_redacted_in_the_trail(
        client: TestClient, admin: dict[str, str], owner: Owner) -> None:
    created = client.post("/v1/apikeys", json={"name": "k", "iam_id": owner.iam_id},
                          headers=admin).json()
    events = _events(client, admin, action="admin.create_api_key")
    assert created["apikey"] not in str(events)
    assert '"apikey": "***"' in events[0]["detail"]


def test_refused_admin_change_is_audited_as_failure(
        client: TestClient, admin: dict[str, str]) -> None:
    client.delete("/v1/serviceids/ServiceId-unknown", headers=admin)
    events = _events(client, admin, action="admin.delete_service_id")
    assert events[0]["outcome"] == "failure"


def test_registry_token_is_audited_with_scopes_asked_and_granted(
        client: TestClient, admin: dict[str, str], owner: Owner) -> None:
    import base64

    basic = base64.b64encode(f"iamapikey:{owner.apikey}".encode()).decode()
    r = client.get("/token", params={"service": "registry.local",
                                     "scope": "repository:nons/app:pull"},
                   headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.text
    events = _events(client, admin, action="container-registry.token")
    detail = events[0]["detail"]
    assert "repository:nons/app:pull" in detail  # asked
    assert '"granted": ["repository:nons/app:"]' in detail  # granted nothing: no namespace
