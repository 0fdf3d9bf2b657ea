"""Security headers on every answer; liveness and readiness."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Owner

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_security_headers(headers: dict[str, str]) -> None:
    for name, value in EXPECTED.items():
        assert headers.get(name) == value, name


def test_healthz_is_200(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_is_200_with_database(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_answers_carry_security_headers(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert_security_headers(dict(r.headers))


def test_admin_answer_carries_security_headers(client: TestClient,
                                               admin: dict[str, str]) -> None:
    r = client.get("/v1/serviceids", headers=admin)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert_security_headers(dict(r.headers))


def test_401_answer_carries_security_headers(client: TestClient) -> None:
    r = client.get("/v1/serviceids")
    assert r.status_code == 401
    assert_security_headers(dict(r.headers))


def test_404_answer_carries_security_headers(client: TestClient) -> None:
    r = client.get("/no/such/path")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "not_found"
    assert_security_headers(dict(r.headers))


def test_413_answer_carries_security_headers(client: TestClient) -> None:
    r = client.post("/v1/serviceids", content=b"x" * (65 * 1024),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["errors"][0]["code"] == "payload_too_large"
    assert_security_headers(dict(r.headers))


def test_token_answer_is_not_cached(client: TestClient, owner: Owner) -> None:
    r = client.post("/identity/token", data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": owner.apikey})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_oauth_error_answer_is_not_cached(client: TestClient) -> None:
    r = client.post("/identity/token", data={"grant_type": "nope"})
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    assert r.headers["cache-control"] == "no-store"
    assert_security_headers(dict(r.headers))


def test_security_headers_are_not_duplicated(client: TestClient) -> None:
    r = client.get("/healthz")
    for name in EXPECTED:
        assert len(r.headers.get_list(name)) == 1, name
