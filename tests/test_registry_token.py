"""The registry token endpoint, in process: logins, grants, refresh tokens, errors, JWKS."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import jwt
import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from iam.config import Registry, Settings
from iam.identity.ratelimit import FailureLimiter, MemoryCounter
from tests.conftest import Owner, bearer

US, EU = "registry.us", "registry.eu"
UNAUTHORIZED = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required",
                            "detail": []}]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two registries in two regions, as in the seed's "copy between regions"."""
    return settings.model_copy(update={"registries": [
        Registry(service=US, region="us-south"), Registry(service=EU, region="eu-de")]})


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def token_for(client: TestClient, apikey: str, *scopes: str, service: str = US,
              **params: str) -> dict[str, Any]:
    r = client.get("/token", params={"service": service, "scope": list(scopes), **params},
                   headers=basic("iamapikey", apikey))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def access_of(client: TestClient, apikey: str, *scopes: str, service: str = US) -> list[Any]:
    access: list[Any] = claims_of(token_for(client, apikey, *scopes, service=service)["token"])[
        "access"]
    return access


def service_id_key(client: TestClient, admin: dict[str, str], name: str) -> tuple[str, str, str]:
    """A new service ID and its key: (iam_id, apikey id, apikey)."""
    r = client.post("/v1/serviceids", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    iam_id = r.json()["iam_id"]
    r = client.post("/v1/apikeys", json={"name": f"{name}-key", "iam_id": iam_id}, headers=admin)
    assert r.status_code == 201, r.text
    return iam_id, r.json()["id"], r.json()["apikey"]


def namespace(client: TestClient, admin: dict[str, str], name: str, region: str) -> None:
    r = client.put(f"/v1/namespaces/{name}", params={"region": region}, headers=admin)
    assert r.status_code in (200, 201), r.text


def policy(client: TestClient, admin: dict[str, str], iam_id: str, roles: list[str],
           resource: str, region: str = "") -> None:
    body = {"subject": {"iam_id": iam_id}, "roles": roles,
            "resource": {"service": "container-registry", "region": region,
                         "resource_type": "namespace", "resource": resource}}
    r = client.post("/v1/policies", json=body, headers=admin)
    assert r.status_code == 201, r.text


@pytest.fixture
def robot(client: TestClient, admin: dict[str, str]) -> tuple[str, str, str]:
    """A service ID with Manager on ns01 in us-south; ns01 and ns02 exist in both regions."""
    for ns in ("ns01", "ns02"):
        for region in ("us-south", "eu-de"):
            namespace(client, admin, ns, region)
    found = service_id_key(client, admin, "robot")
    policy(client, admin, found[0], ["Manager"], "ns01", "us-south")
    return found


# --- login -------------------------------------------------------------------------------


def test_login_with_api_key_returns_a_token_without_access(client: TestClient,
                                                           owner: Owner) -> None:
    body = token_for(client, owner.apikey, account="iamapikey", client_id="docker")
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"])
    claims = claims_of(body["token"])
    assert claims["access"] == []
    assert claims["sub"] == owner.iam_id


def test_token_answer_is_a_json_object_of_exactly_its_fields(client: TestClient,
                                                             owner: Owner) -> None:
    for params in ({}, {"offline_token": "true"}):
        r = client.get("/token", params={"service": US, **params},
                       headers=basic("iamapikey", owner.apikey))
        assert r.headers["content-type"] == "application/json"
        assert r.headers["cache-control"] == "no-store"
        expected = {"token", "access_token", "expires_in", "issued_at"} | (
            {"refresh_token"} if params else set())
        assert set(r.json()) == expected and isinstance(r.json()["expires_in"], int)


def test_token_carries_the_claims_the_registry_checks(client: TestClient, owner: Owner,
                                                      settings: Settings) -> None:
    claims = claims_of(token_for(client, owner.apikey)["token"])
    assert set(claims) == {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"}
    assert claims["aud"] == US and claims["iss"] == settings.issuer
    assert claims["exp"] - claims["iat"] == settings.token_ttl
    assert claims["nbf"] == claims["iat"]


def test_token_header_has_libtrust_kid_and_verifiable_x5c(client: TestClient,
                                                          owner: Owner) -> None:
    token = token_for(client, owner.apikey)["token"]
    header = jwt.get_unverified_header(token)
    keyring = client.app.state.runtime.keyring  # type: ignore[attr-defined]
    assert header["alg"] == "ES256" and header["kid"] == keyring.active().kid
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    claims = jwt.decode(token, cert.public_key(), algorithms=["ES256"], audience=US)  # type: ignore[arg-type]
    assert claims["sub"]


def test_token_ids_are_unique(client: TestClient, owner: Owner) -> None:
    ids = {claims_of(token_for(client, owner.apikey)["token"])["jti"] for _ in range(3)}
    assert len(ids) == 3


def test_offline_login_returns_a_refresh_token(client: TestClient, owner: Owner) -> None:
    body = token_for(client, owner.apikey, offline_token="true", client_id="docker")
    assert body["refresh_token"].count(".") == 2


def test_login_without_offline_has_no_refresh_token(client: TestClient, owner: Owner) -> None:
    assert "refresh_token" not in token_for(client, owner.apikey)


def test_login_with_wrong_key_is_unauthorized(client: TestClient, owner: Owner) -> None:
    wrong = owner.apikey[:-4] + ("AAAA" if not owner.apikey.endswith("AAAA") else "BBBB")
    r = client.get("/token", params={"service": US}, headers=basic("iamapikey", wrong))
    assert r.status_code == 401
    assert r.json() == UNAUTHORIZED
    assert r.headers["www-authenticate"].startswith('Basic realm="')


def test_login_with_unknown_user_is_unauthorized(client: TestClient, owner: Owner) -> None:
    r = client.get("/token", params={"service": US}, headers=basic("nobody", owner.apikey))
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_login_with_malformed_basic_header_is_unauthorized(client: TestClient) -> None:
    r = client.get("/token", params={"service": US},
                   headers={"Authorization": "Basic not-base64!"})
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_login_with_disabled_key_is_unauthorized(client: TestClient, admin: dict[str, str]
                                                 ) -> None:
    _, key_id, key = service_id_key(client, admin, "ci")
    token_for(client, key)
    assert client.post(f"/v1/apikeys/{key_id}/disable", headers=admin).status_code == 200
    r = client.get("/token", params={"service": US}, headers=basic("iamapikey", key))
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_login_with_iambearer_access_token(client: TestClient, owner: Owner) -> None:
    access = bearer(client, owner.apikey)["Authorization"].removeprefix("Bearer ")
    r = client.get("/token", params={"service": US}, headers=basic("iambearer", access))
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["token"])["sub"] == owner.iam_id


def test_login_with_user_password(client: TestClient, admin: dict[str, str]) -> None:
    r = client.post("/v1/users", json={"name": "alice", "password": "correct horse battery"},
                    headers=admin)
    assert r.status_code == 201, r.text
    iam_id = r.json()["iam_id"]
    r = client.get("/token", params={"service": US},
                   headers=basic("alice", "correct horse battery"))
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["token"])["sub"] == iam_id


def test_no_credentials_get_an_anonymous_token_without_access(client: TestClient) -> None:
    r = client.get("/token", params={"service": US, "scope": "repository:ns01/app:pull"})
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["token"])
    assert claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": "ns01/app", "actions": []}]


def test_unknown_service_is_a_bad_request_naming_it(client: TestClient, owner: Owner) -> None:
    r = client.get("/token", params={"service": "registry.nowhere"},
                   headers=basic("iamapikey", owner.apikey))
    assert r.status_code == 400
    message = r.json()["errors"][0]["message"]
    assert "registry.nowhere" in message and US in message


def test_malformed_scope_is_a_bad_request(client: TestClient, owner: Owner) -> None:
    r = client.get("/token", params={"service": US, "scope": "repository:ns01/app"},
                   headers=basic("iamapikey", owner.apikey))
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "INVALID_REQUEST"


def test_client_over_the_limit_still_gets_a_token_with_a_good_key(client: TestClient,
                                                                  owner: Owner) -> None:
    """Failures from an address never refuse a correct key from it (strangers share it)."""
    client.app.state.runtime.limiter = FailureLimiter(  # type: ignore[attr-defined]
        MemoryCounter(), max_failures=3, window=60)
    for _ in range(4):
        client.get("/token", params={"service": US}, headers=basic("iamapikey", "x" * 20))
    r = client.get("/token", params={"service": US}, headers=basic("iamapikey", owner.apikey))
    assert r.status_code == 200, r.text
    assert r.json()["token"]


def test_client_over_the_limit_is_throttled_on_a_bad_key(client: TestClient) -> None:
    client.app.state.runtime.limiter = FailureLimiter(  # type: ignore[attr-defined]
        MemoryCounter(), max_failures=3, window=60)
    for _ in range(3):
        r = client.get("/token", params={"service": US}, headers=basic("iamapikey", "x" * 20))
        assert r.status_code == 401
    r = client.get("/token", params={"service": US}, headers=basic("iamapikey", "x" * 20))
    assert r.status_code == 429
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert int(r.headers["retry-after"]) > 0


# --- the POST (OAuth2) form ---------------------------------------------------------------


def test_post_refresh_grant_issues_a_token(client: TestClient, robot: tuple[str, str, str]
                                           ) -> None:
    refresh = token_for(client, robot[2], offline_token="true")["refresh_token"]
    r = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                    "service": US, "client_id": "docker",
                                    "scope": "repository:ns01/app:pull,push"})
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["access"] == [
        {"type": "repository", "name": "ns01/app", "actions": ["pull", "push"]}]


def test_refresh_token_dies_with_its_key(client: TestClient, admin: dict[str, str],
                                         robot: tuple[str, str, str]) -> None:
    refresh = token_for(client, robot[2], offline_token="true")["refresh_token"]
    assert client.delete(f"/v1/apikeys/{robot[1]}", headers=admin).status_code == 204
    r = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                    "service": US, "client_id": "docker"})
    assert (r.status_code, r.json()) == (401, UNAUTHORIZED)


def test_post_password_grant_with_offline_access(client: TestClient, owner: Owner) -> None:
    r = client.post("/token", data={"grant_type": "password", "username": "iamapikey",
                                    "password": owner.apikey, "service": US,
                                    "client_id": "docker", "access_type": "offline"})
    assert r.status_code == 200, r.text
    assert {"token", "access_token", "refresh_token", "expires_in"} <= set(r.json())


def test_post_unknown_grant_is_a_bad_request(client: TestClient) -> None:
    r = client.post("/token", data={"grant_type": "client_credentials", "service": US})
    assert r.status_code == 400
    assert "grant_type" in r.json()["errors"][0]["message"]


# --- grants ---------------------------------------------------------------------------------


def test_manager_gets_pull_and_push_on_its_namespace(client: TestClient,
                                                     robot: tuple[str, str, str]) -> None:
    assert access_of(client, robot[2], "repository:ns01/app:pull,push") == [
        {"type": "repository", "name": "ns01/app", "actions": ["pull", "push"]}]


def test_star_is_expanded_to_the_held_actions(client: TestClient,
                                              robot: tuple[str, str, str]) -> None:
    assert access_of(client, robot[2], "repository:ns01/app:*")[0]["actions"] == [
        "pull", "push", "delete"]


def test_reader_gets_pull_only(client: TestClient, admin: dict[str, str],
                               robot: tuple[str, str, str]) -> None:
    iam_id, _, key = service_id_key(client, admin, "reader")
    policy(client, admin, iam_id, ["Reader"], "ns01", "us-south")
    assert access_of(client, key, "repository:ns01/app:pull,push")[0]["actions"] == ["pull"]
    assert access_of(client, key, "repository:ns01/app:*")[0]["actions"] == ["pull"]


def test_other_namespace_gets_nothing(client: TestClient, robot: tuple[str, str, str]) -> None:
    access = access_of(client, robot[2], "repository:ns01/app:pull",
                       "repository:ns02/app:pull,push")
    assert access == [{"type": "repository", "name": "ns01/app", "actions": ["pull"]},
                      {"type": "repository", "name": "ns02/app", "actions": []}]


def test_region_policy_grants_nothing_on_another_region(client: TestClient,
                                                        robot: tuple[str, str, str]) -> None:
    assert access_of(client, robot[2], "repository:ns01/app:pull", service=EU) == [
        {"type": "repository", "name": "ns01/app", "actions": []}]


def test_mount_asks_source_and_target_in_one_token(client: TestClient,
                                                   robot: tuple[str, str, str]) -> None:
    access = access_of(client, robot[2], "repository:ns01/copy:pull,push",
                       "repository:ns01/app:pull")
    assert [a["actions"] for a in access] == [["pull", "push"], ["pull"]]


def test_catalog_is_denied_to_an_account_owner(client: TestClient, owner: Owner) -> None:
    assert access_of(client, owner.apikey, "registry:catalog:*")[0]["actions"] == []


def test_catalog_is_granted_to_a_configured_operator(client: TestClient,
                                                     robot: tuple[str, str, str]) -> None:
    client.app.state.runtime.settings.registry_operators.append(robot[0])  # type: ignore[attr-defined]
    assert access_of(client, robot[2], "registry:catalog:*")[0]["actions"] == ["*"]


def test_token_requests_count_key_activity_in_batches(client: TestClient, admin: dict[str, str],
                                                      robot: tuple[str, str, str]) -> None:
    for _ in range(3):
        token_for(client, robot[2])
    deadline = time.monotonic() + 5
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/apikeys/{robot[1]}", headers=admin).json()
        if body.get("authn_count") == 3:
            break
        time.sleep(0.1)
    assert body["authn_count"] == 3 and body["last_authn"]


def test_jwks_lists_every_published_key(client: TestClient) -> None:
    r = client.get("/.well-known/jwks.json")
    assert r.status_code == 200
    keyring = client.app.state.runtime.keyring  # type: ignore[attr-defined]
    assert [k["kid"] for k in r.json()["keys"]] == [k.kid for k in keyring.published()]
