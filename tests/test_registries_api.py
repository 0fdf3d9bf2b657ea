"""`/v1/registries` on a fresh service per test, where a test needs the whole list: what the
settings seed, the last registry, seeding on restart; the key thumbprint; a registry list
that cannot be read. (Everything else: tests/test_registries_shared.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from iam.api.app import create_app
from iam.config import Registry, Settings
from iam.tokens.signing import load_keys
from tests.conftest import bearer
from tests.test_policies_api import Headers

US, EU = "registry.us", "registry.eu"
REGISTRIES = "/v1/registries"
NEW = {"service": "registry.ap", "region": "ap-north", "url": "https://ap.example:5000"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two registries in two regions, seeded from the settings."""
    return settings.model_copy(update={"registries": [
        Registry(service=US, region="us-south", url="http://127.0.0.1:5000"),
        Registry(service=EU, region="eu-de")]})


def token_status(client: TestClient, apikey: str, service: str) -> int:
    raw = base64.b64encode(f"iamapikey:{apikey}".encode()).decode()
    return client.get("/token", params={"service": service},
                      headers={"Authorization": f"Basic {raw}"}).status_code


def services(client: TestClient, headers: Headers) -> list[str]:
    r = client.get(REGISTRIES, headers=headers)
    assert r.status_code == 200, r.text
    return [x["service"] for x in r.json()["data"]]


def read(client: TestClient, headers: Headers, service: str) -> dict[str, Any]:
    r = client.get(f"{REGISTRIES}/{service}", headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def patch(client: TestClient, headers: Headers, service: str, **values: Any) -> Any:
    tag = read(client, headers, service)["entity_tag"]
    return client.patch(f"{REGISTRIES}/{service}", json=values,
                        headers={**headers, "If-Match": tag})


def audit_events(client: TestClient, headers: Headers, action: str,
                 expect: int) -> list[dict[str, Any]]:
    """The events of `action`, newest first, once `expect` are written (batched)."""
    deadline = time.monotonic() + 10
    while True:
        r = client.get("/v1/audit-events", params={"action": action}, headers=headers)
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        if len(data) >= expect or time.monotonic() > deadline:
            return data
        time.sleep(0.05)


def error_of(r: Any) -> dict[str, Any]:
    first: dict[str, Any] = r.json()["errors"][0]
    return first


# --- the whole list ------------------------------------------------------------------------------

def test_seeded_registries_are_listed_with_their_settings(client: TestClient,
                                                          admin: Headers) -> None:
    r = client.get(REGISTRIES, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["count"], body["next_pagestart"]) == (2, None)
    eu, us = body["data"]
    assert {k: us[k] for k in ("service", "region", "url", "tls_verify", "delete_enabled",
                               "trust", "ca_file")} == {
        "service": US, "region": "us-south", "url": "http://127.0.0.1:5000",
        "tls_verify": True, "delete_enabled": True, "trust": "bundle", "ca_file": None}
    assert (eu["service"], eu["region"], eu["url"]) == (EU, "eu-de", "")


def test_removing_the_last_registry_is_409(client: TestClient, admin: Headers) -> None:
    assert client.delete(f"{REGISTRIES}/{EU}", headers=admin).status_code == 204
    r = client.delete(f"{REGISTRIES}/{US}", headers=admin)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == ("registry registry.us is the last one; add another "
                                      "before removing it")
    assert services(client, admin) == [US]


def test_seeding_never_overwrites_nor_brings_back_what_the_operator_changed(
        client: TestClient, admin: Headers, settings: Settings,
        caplog: pytest.LogCaptureFixture) -> None:
    assert patch(client, admin, US, url="https://us.example").status_code == 200
    assert client.delete(f"{REGISTRIES}/{EU}", headers=admin).status_code == 204
    with caplog.at_level(logging.WARNING, logger="iam.registries"), \
            TestClient(create_app(settings)) as restarted:
        headers = bearer(restarted, _owner_key(client, admin))
        assert services(restarted, headers) == [US]
        assert read(restarted, headers, US)["url"] == "https://us.example"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("registry registry.us differs from the settings (IAM_REGISTRIES) in url"
               in w for w in warnings), warnings
    assert any("registry registry.eu is in the settings (IAM_REGISTRIES) but an operator "
               "removed it" in w for w in warnings), warnings


def _owner_key(client: TestClient, admin: Headers) -> str:
    """A fresh key of the operator (the owner), for a second app on the same database."""
    me = client.get("/v1/serviceids", headers=admin).json()["data"][0]["iam_id"]
    r = client.post("/v1/apikeys", json={"name": "again", "iam_id": me}, headers=admin)
    assert r.status_code == 201, r.text
    key: str = r.json()["apikey"]
    return key


def test_seeding_adds_a_registry_new_in_the_settings(client: TestClient, admin: Headers,
                                                     settings: Settings) -> None:
    more = settings.model_copy(update={"registries": [
        *settings.registries, Registry(service="registry.ap", region="ap-north")]})
    with TestClient(create_app(more)) as restarted:
        headers = bearer(restarted, _owner_key(client, admin))
        assert services(restarted, headers) == ["registry.ap", EU, US]
    events = audit_events(client, admin, "registry.seed", expect=1)
    assert [e["target"] for e in events] == ["registry.ap"]
    after = json.loads(events[0]["detail"])["after"]
    assert (after["service"], after["region"]) == ("registry.ap", "ap-north")


# --- trust modes ----------------------------------------------------------------------------------

def test_jwks_kid_is_the_rfc7638_thumbprint(shared_data_dir: Path) -> None:
    key = load_keys(shared_data_dir / "keys")[0]
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key))  # type: ignore[arg-type]
    canonical = json.dumps({k: public[k] for k in ("crv", "kty", "x", "y")},
                           separators=(",", ":")).encode()
    expected = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert key.thumbprint == expected.decode()
    assert key.thumbprint_jwk()["kid"] == key.thumbprint


def test_an_unreadable_registry_list_is_a_503_not_a_crash(shared_data_dir: Path,
                                                          tmp_path: Path) -> None:
    down = Settings(data_dir=shared_data_dir, database_url="sqlite:////nonexistent/dir/iam.db")
    with TestClient(create_app(down)) as unreachable:
        r = unreachable.get("/token", params={"service": US})
    assert r.status_code == 503, r.text
    assert error_of(r) == {"code": "service_unavailable", "message": "the list of registries "
                           "could not be read from the database yet; retry shortly"}
