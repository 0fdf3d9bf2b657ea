"""`/v1/registries`: the system operator manages the registries, the token endpoint follows
at once; the settings only seed what the database lacks. (Reads and refusals:
tests/test_registries_refusals.py.)"""

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
from iam.registry.trust_config import write_trust_files
from iam.tokens.signing import load_keys
from tests.conftest import Owner, bearer
from tests.test_policies_api import Headers, namespace, second_account

US, EU = "registry.us", "registry.eu"
REGISTRIES = "/v1/registries"
NEW = {"service": "registry.ap", "region": "ap-north", "url": "https://ap.example:5000"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two registries in two regions, seeded from the settings."""
    return settings.model_copy(update={"registries": [
        Registry(service=US, region="us-south", url="http://127.0.0.1:5000"),
        Registry(service=EU, region="eu-de")]})


@pytest.fixture
def ca_file(settings: Settings) -> str:
    """A readable PEM CA file: the signing key's self-signed certificate."""
    return str(next(settings.keys_dir.glob("*.crt")).resolve())


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


# --- who may do what ----------------------------------------------------------------------------

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


def test_operator_adds_a_registry_and_the_token_endpoint_serves_it_at_once(
        client: TestClient, admin: Headers, owner: Owner, ca_file: str) -> None:
    assert token_status(client, owner.apikey, "registry.ap") == 400
    r = client.post(REGISTRIES, json={**NEW, "ca_file": ca_file, "trust": "jwks",
                                      "delete_enabled": False}, headers=admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert {k: body[k] for k in ("service", "region", "url", "ca_file", "trust",
                                 "delete_enabled", "tls_verify")} == {
        **NEW, "ca_file": ca_file, "trust": "jwks", "delete_enabled": False,
        "tls_verify": True}
    assert token_status(client, owner.apikey, "registry.ap") == 200
    assert services(client, admin) == ["registry.ap", EU, US]


def test_update_needs_if_match_and_refuses_a_stale_one(client: TestClient,
                                                       admin: Headers) -> None:
    r = client.patch(f"{REGISTRIES}/{US}", json={"url": ""}, headers=admin)
    assert r.status_code == 428, r.text
    stale = read(client, admin, US)["entity_tag"]
    assert patch(client, admin, US, url="https://us.example").status_code == 200
    r = client.patch(f"{REGISTRIES}/{US}", json={"url": ""},
                     headers={**admin, "If-Match": stale})
    assert r.status_code == 412, r.text
    assert read(client, admin, US)["url"] == "https://us.example"


def test_update_changes_only_what_it_names_and_is_audited(client: TestClient, admin: Headers,
                                                          ca_file: str) -> None:
    r = patch(client, admin, US, url="https://us.example/", ca_file=ca_file,
              tls_verify=False)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["url"], body["ca_file"], body["tls_verify"], body["region"]) == (
        "https://us.example", ca_file, False, "us-south")
    assert patch(client, admin, US, ca_file=None).json()["ca_file"] is None
    events = audit_events(client, admin, "admin.update_registry", expect=2)
    assert len(events) == 2
    first = json.loads(events[-1]["detail"])
    assert (first["before"]["url"], first["after"]["url"]) == ("http://127.0.0.1:5000",
                                                               "https://us.example")


# --- the 409 rules --------------------------------------------------------------------------------

def test_adding_a_registry_that_exists_is_409(client: TestClient, admin: Headers) -> None:
    r = client.post(REGISTRIES, json={"service": US}, headers=admin)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == ("registry registry.us exists already; change it with "
                                      "`iam registry-update`")


def test_removing_the_last_registry_is_409(client: TestClient, admin: Headers) -> None:
    assert client.delete(f"{REGISTRIES}/{EU}", headers=admin).status_code == 204
    r = client.delete(f"{REGISTRIES}/{US}", headers=admin)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == ("registry registry.us is the last one; add another "
                                      "before removing it")
    assert services(client, admin) == [US]


def test_removing_the_last_registry_of_a_region_with_namespaces_is_409(
        client: TestClient, admin: Headers) -> None:
    b = second_account(client, admin)
    assert namespace(client, b, "team-b", "eu-de").status_code == 201
    r = client.delete(f"{REGISTRIES}/{EU}", headers=admin)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == (
        "registry registry.eu is the last of region eu-de, which has 1 namespace(s); remove "
        "them (iam namespace-rm) or add another registry in that region first")
    assert client.post(REGISTRIES, json={"service": "registry.eu2", "region": "eu-de"},
                       headers=admin).status_code == 201
    assert client.delete(f"{REGISTRIES}/{EU}", headers=admin).status_code == 204


def test_changing_the_region_of_a_registry_whose_region_has_namespaces_is_409(
        client: TestClient, admin: Headers) -> None:
    assert namespace(client, admin, "team-a", "us-south").status_code == 201
    r = patch(client, admin, US, region="eu-de")
    assert r.status_code == 409, r.text
    error = error_of(r)
    assert error["target"] == "region"
    assert "serves region us-south, which has 1 namespace(s)" in error["message"]
    assert read(client, admin, US)["region"] == "us-south"
    assert patch(client, admin, EU, region="ap-north").status_code == 200


# --- removal and seeding --------------------------------------------------------------------------

def test_a_removed_registry_gets_no_tokens_and_can_be_added_again(
        client: TestClient, admin: Headers, owner: Owner) -> None:
    assert client.delete(f"{REGISTRIES}/{EU}", headers=admin).status_code == 204
    r = client.get("/token", params={"service": EU})
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"] == (
        "unknown service 'registry.eu'; this token service issues tokens for: registry.us")
    assert client.get(f"{REGISTRIES}/{EU}", headers=admin).status_code == 404
    r = client.post(REGISTRIES, json={"service": EU, "region": "eu-central"}, headers=admin)
    assert r.status_code == 201, r.text
    assert token_status(client, owner.apikey, EU) == 200
    assert read(client, admin, EU)["region"] == "eu-central"


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


def test_a_replica_serves_a_new_registry_within_a_second(client: TestClient, admin: Headers,
                                                         settings: Settings,
                                                         owner: Owner) -> None:
    with TestClient(create_app(settings)) as replica:
        assert token_status(replica, owner.apikey, "registry.ap") == 400
        assert client.post(REGISTRIES, json=NEW, headers=admin).status_code == 201
        added = time.monotonic()
        while token_status(replica, owner.apikey, "registry.ap") != 200:
            assert time.monotonic() - added < 1.0, "the replica did not reload within 1 s"
            time.sleep(0.02)
        assert client.delete(f"{REGISTRIES}/registry.ap", headers=admin).status_code == 204
        removed = time.monotonic()
        while token_status(replica, owner.apikey, "registry.ap") != 400:
            assert time.monotonic() - removed < 1.0, "the replica did not reload within 1 s"
            time.sleep(0.02)


# --- trust modes ----------------------------------------------------------------------------------

def _header(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def test_a_jwks_registry_gets_tokens_its_jwks_file_verifies(
        client: TestClient, admin: Headers, owner: Owner, settings: Settings,
        tmp_path: Path) -> None:
    assert patch(client, admin, EU, trust="jwks").status_code == 200
    raw = base64.b64encode(f"iamapikey:{owner.apikey}".encode()).decode()
    r = client.get("/token", params={"service": EU, "scope": "repository:ns01/app:pull"},
                   headers={"Authorization": f"Basic {raw}"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    header = _header(token)
    assert "x5c" not in header
    _, jwks_path = write_trust_files(load_keys(settings.keys_dir), tmp_path)
    jwks = json.loads(jwks_path.read_text())
    assert all("x5c" not in k for k in jwks["keys"])
    key = jwt.PyJWKSet(jwks["keys"])[header["kid"]]  # the kid is the file's: the thumbprint
    claims = jwt.decode(token, key.key, algorithms=[header["alg"]], audience=EU,
                        issuer=settings.issuer)
    assert claims["sub"] == owner.iam_id
    bundle_token = client.get("/token", params={"service": US},
                              headers={"Authorization": f"Basic {raw}"}).json()["token"]
    bundle_header = _header(bundle_token)
    assert bundle_header["kid"] == load_keys(settings.keys_dir)[0].kid != header["kid"]
    assert len(bundle_header["x5c"]) == 1


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
