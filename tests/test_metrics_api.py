"""`GET /metrics`: open to the addresses `IAM_METRICS_ALLOW` lists, otherwise only to an
identity of the system account holding MetricsReader; the counts the token path makes; the
separate metrics port; metrics turned off."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from iam.api.app import create_app
from iam.config import Settings
from iam.store.db import head_revision
from tests.conftest import Owner, bearer

LOOPBACK = ("127.0.0.1", 50000)


def basic(apikey: str) -> dict[str, str]:
    value = base64.b64encode(f"iamapikey:{apikey}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def robot(client: TestClient, admin: dict[str, str], name: str,
          roles: list[str] | None = None) -> str:
    """A service ID of the admin's account, its API key, and the roles given (if any) on
    iam-access-management; returns the key."""
    sid = client.post("/v1/serviceids", json={"name": name}, headers=admin)
    assert sid.status_code == 201, sid.text
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid.json()["iam_id"]},
                      headers=admin)
    assert key.status_code == 201, key.text
    if roles:
        policy = client.post("/v1/policies", headers=admin, json={
            "subject": {"iam_id": sid.json()["iam_id"]}, "roles": roles,
            "resource": {"service": "iam-access-management"}})
        assert policy.status_code == 201, policy.text
    return str(key.json()["apikey"])


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the exposition text."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                return float(value)
    return None


@pytest.fixture
def loopback(settings: Settings, owner: Owner) -> Iterator[TestClient]:
    """The same app, reached from 127.0.0.1."""
    with TestClient(create_app(settings), client=LOOPBACK) as c:
        yield c


def test_metrics_from_loopback_need_no_credential(loopback: TestClient) -> None:
    r = loopback.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert sample(r.text, "iam_build_info", schema=head_revision()) == 1.0


def test_metrics_from_elsewhere_without_credential_are_401(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "unauthorized"


def test_metrics_with_the_system_owner_token_are_200(client: TestClient,
                                                     admin: dict[str, str]) -> None:
    r = client.get("/metrics", headers=admin)
    assert r.status_code == 200 and "iam_http_requests_total" in r.text


def test_metrics_with_a_metrics_reader_key_as_basic_are_200(client: TestClient,
                                                            admin: dict[str, str]) -> None:
    """Prometheus's `basic_auth` with `iamapikey` and a key: it never needs refreshing."""
    key = robot(client, admin, "prometheus", ["MetricsReader"])
    r = client.get("/metrics", headers=basic(key))
    assert r.status_code == 200 and "iam_build_info" in r.text


def test_metrics_with_a_wrong_key_are_401(client: TestClient, admin: dict[str, str]) -> None:
    key = robot(client, admin, "prometheus", ["MetricsReader"])
    r = client.get("/metrics", headers=basic(key[:-2] + "xx"))
    assert r.status_code == 401


def test_metrics_for_an_identity_without_the_role_are_403(client: TestClient,
                                                          admin: dict[str, str]) -> None:
    key = robot(client, admin, "viewer", ["Administrator"])
    r = client.get("/metrics", headers=basic(key))
    assert r.status_code == 403
    assert r.json()["errors"][0]["message"] == (
        "missing action iam-access-management.metrics.read")


def test_metrics_for_a_reader_of_another_account_are_403(client: TestClient,
                                                         admin: dict[str, str]) -> None:
    """They count every account's requests: no other account's role reads them, not even
    its owner's."""
    tenant = client.post("/v1/accounts", json={"name": "tenant-b"}, headers=admin)
    assert tenant.status_code == 201, tenant.text
    tenant_owner = tenant.json()["apikey"]
    key = robot(client, bearer(client, tenant_owner), "prometheus", ["MetricsReader"])
    for credential in (basic(key), basic(tenant_owner)):
        r = client.get("/metrics", headers=credential)
        assert r.status_code == 403
        assert r.json()["errors"][0]["message"] == (
            "missing action iam-access-management.metrics.read in the system account")


def test_metrics_count_tokens_by_registry_and_requests_by_route(loopback: TestClient,
                                                                owner: Owner) -> None:
    def scrape() -> dict[str, Any]:
        text = loopback.get("/metrics").text
        return {
            "issued": sample(text, "iam_tokens_issued_total", registry="registry.local"),
            "refused": sample(text, "iam_tokens_refused_total", registry="registry.local",
                              reason="malformed"),
            "ok": sample(text, "iam_http_requests_total", route="/token", status="200"),
            "admin": sample(text, "iam_http_requests_total", route="/v1/serviceids/{service_id}",
                            method="GET", status="401"),
            "hits": sample(text, "iam_token_cache_lookups_total", memo="decisions",
                           result="hit"),
        }

    for _ in range(3):
        ok = loopback.get("/token", params={"service": "registry.local"},
                          headers=basic(owner.apikey))
        assert ok.status_code == 200
    bad = loopback.get("/token", params={"service": "registry.local"},
                       headers=basic("riam_short"))
    assert bad.status_code == 401
    assert loopback.get("/v1/serviceids/ServiceId-x").status_code == 401
    assert scrape() == {"issued": 3.0, "refused": 1.0, "ok": 3.0, "admin": 1.0, "hits": 2.0}


@pytest.fixture
def metrics_port(settings: Settings, owner: Owner) -> Iterator[TestClient]:
    port_settings = settings.model_copy(update={"metrics_port": 9464})
    with TestClient(create_app(port_settings), client=LOOPBACK) as c:
        yield c


def test_metrics_port_serves_metrics_and_nothing_else(metrics_port: TestClient) -> None:
    assert metrics_port.get("http://testserver:9464/metrics").status_code == 200
    assert metrics_port.get("http://testserver:9464/healthz").status_code == 404
    assert metrics_port.get("http://testserver:9464/token").status_code == 404


def test_service_port_serves_no_metrics_once_they_have_their_own(
        metrics_port: TestClient) -> None:
    assert metrics_port.get("http://testserver/metrics").status_code == 404
    assert metrics_port.get("http://testserver/healthz").status_code == 200


def test_metrics_turned_off_are_404(settings: Settings, owner: Owner) -> None:
    off = settings.model_copy(update={"metrics_enabled": False})
    with TestClient(create_app(off), client=LOOPBACK) as c:
        r = c.get("/metrics")
        assert r.status_code == 404
        assert r.json()["errors"][0]["message"] == (
            "metrics are turned off (IAM_METRICS_ENABLED=false)")
        assert c.get("/healthz").status_code == 200
