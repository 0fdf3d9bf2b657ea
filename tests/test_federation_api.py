"""Trusted profiles, claim rules and issuers through the admin API, and the exchanges of a
workload's OIDC token (IBM's cr-token grant, RFC 8693, the registry's `iamprofile` Basic
login), against a real, independent OIDC issuer (oauth2-mock-server, a Node process)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.conftest import BACKENDS
from tests.federation_env import World, eq, federation_world, granted
from tests.oidc_env import AUDIENCE, Issuer, hs256_with_public_key, running_issuers, unsigned

CR_TOKEN = "urn:ibm:params:oauth:grant-type:cr-token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
PUSH = "repository:team-a/web:push,pull"


@pytest.fixture(scope="module")
def issuers() -> Iterator[list[Issuer]]:
    with running_issuers(2) as (found, _process):
        yield found


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          issuers: list[Issuer]) -> Iterator[World]:
    """One service per backend: issuer A registered, profile `ci-push` for acme/web on main
    (Writer on team-a)."""
    with federation_world(request, tmp_path_factory.mktemp("federation"), str(request.param),
                          issuer_keys_refresh=300, issuer_keys_max_age=86400) as w:
        w.register(issuers[0].url)
        w.profile("ci-push", issuers[0].url, [eq("repository", "acme/web"),
                                              eq("ref", "refs/heads/main")])
        yield w


def exchange(world: World, form: dict[str, str]) -> Any:
    return world.client.post("/identity/token", data=form)


# --- issuers -------------------------------------------------------------------------------

def test_register_issuer_over_plain_http_without_allow_http_is_400(world: World) -> None:
    r = world.client.post("/v1/issuers", headers=world.admin,
                          json={"url": "http://issuer.example", "audiences": [AUDIENCE]})
    assert r.status_code == 400
    error = r.json()["errors"][0]
    assert error["target"] == "url" and "allow_http" in error["message"]


def test_register_issuer_with_private_key_in_jwks_is_400(world: World) -> None:
    r = world.client.post("/v1/issuers", headers=world.admin, json={
        "url": "https://air-gapped.example", "audiences": [AUDIENCE],
        "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c"}]}})
    assert r.status_code == 400
    assert "private key" in r.json()["errors"][0]["message"]


def test_register_issuer_with_hmac_algorithm_is_400(world: World) -> None:
    r = world.client.post("/v1/issuers", headers=world.admin, json={
        "url": "https://hmac.example", "audiences": [AUDIENCE], "algorithms": ["HS256"]})
    assert r.status_code == 400
    assert r.json()["errors"][0]["target"] == "algorithms"


def test_list_issuers_shows_the_registered_one(world: World, issuers: list[Issuer]) -> None:
    r = world.client.get("/v1/issuers", headers=world.admin)
    assert r.status_code == 200
    [issuer] = [i for i in r.json()["data"] if i["url"] == issuers[0].url]
    assert issuer["keys"] == "discovery" and issuer["audiences"] == [AUDIENCE]
    assert issuer["algorithms"] == ["RS256", "ES256"] and issuer["allow_http"] is True


def test_delete_issuer_a_rule_names_is_409(world: World, issuers: list[Issuer]) -> None:
    r = world.client.delete(f"/v1/issuers/{world.register_id(issuers[0].url)}",
                            headers=world.admin)
    assert r.status_code == 409
    assert "claim rules name this issuer" in r.json()["errors"][0]["message"]


# --- profiles and rules ----------------------------------------------------------------------

def test_update_profile_without_if_match_is_428(world: World) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": "renamed-later"})
    r = world.client.put(f"/v1/profiles/{profile['id']}", headers=world.admin,
                         json={"name": "renamed"})
    assert r.status_code == 428
    assert world.ok("GET", f"/v1/profiles/{profile['id']}")["name"] == "renamed-later"


def test_update_profile_with_stale_tag_is_412(world: World) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": "stale-tag"})
    r = world.client.put(f"/v1/profiles/{profile['id']}", json={"name": "x"},
                         headers={**world.admin, "If-Match": "0000"})
    assert r.status_code == 412
    assert r.json()["errors"][0]["code"] == "precondition_failed"


def test_create_rule_for_unregistered_issuer_is_404(world: World) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": "no-issuer"})
    r = world.client.post(f"/v1/profiles/{profile['id']}/rules", headers=world.admin, json={
        "name": "r", "issuer": "https://unknown.example", "conditions": [eq("sub", "x")]})
    assert r.status_code == 404
    assert r.json()["errors"][0]["target"] == "issuer"


def test_deleting_a_profile_names_its_claim_rules_in_the_audit(world: World,
                                                               issuers: list[Issuer]) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": "short-lived"})
    rule = world.ok("POST", f"/v1/profiles/{profile['id']}/rules", json={
        "name": "r", "issuer": issuers[0].url, "conditions": [eq("sub", "x")]})
    assert world.client.delete(f"/v1/profiles/{profile['id']}",
                               headers=world.admin).status_code == 204
    deadline = time.monotonic() + 10
    while True:
        events = world.ok("GET", "/v1/audit-events",
                          params={"action": "admin.delete_profile"})["data"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    detail = json.loads(events[0]["detail"])
    assert detail["before"]["id"] == profile["id"]
    assert {"kind": "claim rule", "id": rule["id"]} in [
        {"kind": p["kind"], "id": p["before"]["id"]} for p in detail.get("also", [])]


@pytest.mark.parametrize(("change", "target"), [
    ({"conditions": [eq("ref", "main", "LIKE")]}, "conditions.operator"),
    ({"conditions": []}, "conditions"),
    ({"type": "Profile-SAML"}, "type"),
    ({"expiration": 10}, "expiration"),
    ({"conditions": [{"claim": "ref", "operator": "IN", "value": "main"}]}, "conditions.value"),
])
def test_create_rule_with_bad_field_is_400_naming_it(world: World, issuers: list[Issuer],
                                                     change: dict[str, Any],
                                                     target: str) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": f"bad-{target}-{len(change)}"})
    body = {"name": "r", "issuer": issuers[0].url, "conditions": [eq("sub", "x")], **change}
    r = world.client.post(f"/v1/profiles/{profile['id']}/rules", headers=world.admin,
                          json=body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == target
    assert world.ok("GET", f"/v1/profiles/{profile['id']}/rules")["count"] == 0


def test_profile_cannot_get_an_api_key(world: World) -> None:
    profile = world.ok("POST", "/v1/profiles", json={"name": "keyless"})
    r = world.client.post("/v1/apikeys", headers=world.admin,
                          json={"name": "k", "iam_id": profile["iam_id"]})
    assert r.status_code == 400
    assert "no API keys" in r.json()["errors"][0]["message"]


# --- exchanges -------------------------------------------------------------------------------

def test_registry_token_for_matching_github_token_grants_only_its_policies(
        world: World, issuers: list[Issuer]) -> None:
    token = issuers[0].github()
    r = world.registry_token("iamprofile/ci-push", token, PUSH,
                             "repository:team-b/web:push,pull")
    assert granted(r) == [["push", "pull"], []]
    assert r.json()["expires_in"] <= 300


def test_registry_token_for_iamprofile_without_name_finds_the_one_profile(
        world: World, issuers: list[Issuer]) -> None:
    r = world.registry_token("iamprofile", issuers[0].github(), PUSH)
    assert granted(r) == [["push", "pull"]]


def test_cr_token_grant_answers_ibm_shape_without_refresh_token(
        world: World, issuers: list[Issuer]) -> None:
    r = exchange(world, {"grant_type": CR_TOKEN, "cr_token": issuers[0].github(),
                         "profile_name": "ci-push"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["refresh_token"] == "not_supported" and body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 300  # the workload token's lifetime
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"].startswith("iam-Profile-") and claims["rule"]


def test_token_exchange_answers_rfc8693_shape(world: World, issuers: list[Issuer]) -> None:
    r = exchange(world, {"grant_type": EXCHANGE, "subject_token": issuers[0].github(),
                         "subject_token_type": "urn:ietf:params:oauth:token-type:jwt"})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"access_token", "issued_token_type", "token_type", "expires_in"}
    assert r.json()["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


def test_token_exchange_without_subject_token_type_is_400(world: World,
                                                          issuers: list[Issuer]) -> None:
    r = exchange(world, {"grant_type": EXCHANGE, "subject_token": issuers[0].github()})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_access_token_of_a_profile_logs_in_to_the_registry_as_iambearer(
        world: World, issuers: list[Issuer]) -> None:
    access = exchange(world, {"grant_type": CR_TOKEN, "cr_token": issuers[0].github(),
                              "profile_name": "ci-push"}).json()["access_token"]
    assert granted(world.registry_token("iambearer", access, PUSH)) == [["push", "pull"]]


def _refusal(world: World, token: str, profile: str = "iamprofile/ci-push") -> str:
    r = world.registry_token(profile, token, PUSH)
    assert r.status_code == 401, r.text
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    return str(r.json()["errors"][0]["message"])


def test_token_with_wrong_audience_is_refused(world: World, issuers: list[Issuer]) -> None:
    assert "audience" in _refusal(world, issuers[0].github(audience="someone-else"))


def test_token_of_unregistered_issuer_is_refused(world: World, issuers: list[Issuer]) -> None:
    assert _refusal(world, issuers[1].github()) == "no trusted profile accepts this token"


def test_expired_token_is_refused(world: World, issuers: list[Issuer]) -> None:
    token = issuers[0].mint({"aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main",
                             "repository": "acme/web", "ref": "refs/heads/main"},
                            expires_in=-120)
    assert _refusal(world, token) == "the workload token has expired"


def test_not_yet_valid_token_is_refused(world: World, issuers: list[Issuer]) -> None:
    later = int(time.time()) + 600
    token = issuers[0].mint({"aud": AUDIENCE, "sub": "s", "repository": "acme/web",
                             "ref": "refs/heads/main", "nbf": later})
    assert "not valid yet" in _refusal(world, token)


def test_token_older_than_the_accepted_age_is_refused(world: World,
                                                      issuers: list[Issuer]) -> None:
    old = int(time.time()) - 7200
    token = issuers[0].mint({"aud": AUDIENCE, "sub": "s", "repository": "acme/web",
                             "ref": "refs/heads/main", "iat": old, "nbf": old})
    assert "older than 3600 s" in _refusal(world, token)


def test_unsigned_token_is_refused(world: World, issuers: list[Issuer]) -> None:
    assert "algorithm 'none'" in _refusal(world, unsigned(issuers[0].github()))


def test_hs256_token_signed_with_the_public_key_is_refused(world: World,
                                                           issuers: list[Issuer]) -> None:
    rsa = next(k for k in issuers[0].jwks()["keys"] if k["kty"] == "RSA")
    public_pem = jwt.PyJWK(rsa).key.public_bytes(  # type: ignore[union-attr]
        encoding=__import__("cryptography.hazmat.primitives.serialization",
                            fromlist=["Encoding"]).Encoding.PEM,
        format=__import__("cryptography.hazmat.primitives.serialization",
                          fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
    forged = hs256_with_public_key(issuers[0].github(), public_pem)
    assert "algorithm 'HS256'" in _refusal(world, forged)


def test_token_signed_with_a_key_of_another_issuer_is_refused(world: World,
                                                              issuers: list[Issuer]) -> None:
    """Issuer B signs a token that claims issuer A's `iss`, with B's own key and kid."""
    forged = issuers[1].mint({"iss": issuers[0].url, "aud": AUDIENCE,
                              "sub": "repo:acme/web:ref:refs/heads/main",
                              "repository": "acme/web", "ref": "refs/heads/main"})
    assert "kid" in _refusal(world, forged)


def test_claim_of_the_wrong_type_is_refused(world: World, issuers: list[Issuer]) -> None:
    token = issuers[0].github(repository="acme/web", ref="refs/heads/main")
    listed = issuers[0].mint({**jwt.decode(token, options={"verify_signature": False}),
                              "repository": ["acme/web"]}, unset=())
    assert _refusal(world, listed) == "no trusted profile accepts this token"


def test_token_matching_no_rule_is_refused(world: World, issuers: list[Issuer]) -> None:
    token = issuers[0].github(ref="refs/heads/feature")
    assert _refusal(world, token) == "no trusted profile accepts this token"


def test_cr_token_refusal_is_invalid_grant_saying_why(world: World,
                                                      issuers: list[Issuer]) -> None:
    r = exchange(world, {"grant_type": CR_TOKEN, "profile_name": "ci-push",
                         "cr_token": issuers[0].github(audience="elsewhere")})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    assert "audience" in r.json()["error_description"]


# --- GitLab and Kubernetes tokens, groups, several profiles --------------------------------

def test_gitlab_token_with_in_condition_is_accepted(world: World, issuers: list[Issuer]) -> None:
    world.profile("gitlab-deploy", issuers[0].url, [
        eq("project_path", "acme/api"),
        {"claim": "ref", "operator": "IN", "value": ["main", "release"]},
        eq("ref_protected", "true")], roles=("Reader",))
    token = issuers[0].gitlab(project="acme/api", ref="release")
    assert granted(world.registry_token("iamprofile/gitlab-deploy", token, PUSH)) == [["pull"]]


def test_kubernetes_token_matches_a_nested_claim(world: World, issuers: list[Issuer]) -> None:
    world.profile("builds-puller", issuers[0].url, [
        eq("kubernetes.io.namespace", "builds"),
        eq("kubernetes.io.serviceaccount.name", "puller")], roles=("Reader",))
    token = issuers[0].kubernetes(namespace="builds", account="puller")
    assert granted(world.registry_token("iamprofile/builds-puller", token, PUSH)) == [["pull"]]
    other = issuers[0].kubernetes(namespace="other", account="puller")
    assert _refusal(world, other, "iamprofile/builds-puller") == \
        "no trusted profile accepts this token"


def test_token_two_profiles_accept_needs_a_profile_name(world: World,
                                                        issuers: list[Issuer]) -> None:
    for name in ("twin-a", "twin-b"):
        world.profile(name, issuers[0].url, [eq("repository", "acme/twins")], roles=())
    token = issuers[0].github(repository="acme/twins")
    assert "name one" in _refusal(world, token, "iamprofile")
    r = world.registry_token("iamprofile/twin-b", token, PUSH)
    assert granted(r) == [[]]  # twin-b holds no policy


def test_profile_in_an_access_group_holds_the_groups_policies(world: World,
                                                              issuers: list[Issuer]) -> None:
    profile, _ = world.profile("grouped", issuers[0].url, [eq("repository", "acme/grouped")],
                               roles=())
    group = world.ok("POST", "/v1/groups", json={"name": "pushers"})
    world.ok("POST", "/v1/policies", json={
        "subject": {"access_group_id": group["id"]}, "roles": ["Writer"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "team-b"}})
    member = world.ok("POST", f"/v1/groups/{group['id']}/members",
                      json={"iam_id": profile["iam_id"]})
    assert member["type"] == "Profile"
    token = issuers[0].github(repository="acme/grouped")
    r = world.registry_token("iamprofile/grouped", token, "repository:team-b/app:push")
    assert granted(r) == [["push"]]


# --- revocation, expiry, audit -------------------------------------------------------------

def test_rule_changed_to_no_longer_match_refuses_at_once(world: World,
                                                        issuers: list[Issuer]) -> None:
    profile, rule = world.profile("moving", issuers[0].url, [eq("repository", "acme/moving")])
    token = issuers[0].github(repository="acme/moving")
    access = exchange(world, {"grant_type": CR_TOKEN, "cr_token": token,
                              "profile_id": profile["id"]}).json()["access_token"]
    assert granted(world.registry_token("iamprofile/moving", token, PUSH)) == [["push", "pull"]]
    path = f"/v1/profiles/{profile['id']}/rules/{rule['id']}"
    world.ok("PUT", path, headers=world.tagged(path), json={
        "name": "moving-rule", "issuer": issuers[0].url,
        "conditions": [eq("repository", "acme/moving"), eq("ref", "refs/heads/prod")]})
    assert _refusal(world, token, "iamprofile/moving") == "no trusted profile accepts this token"
    # the session the old rule opened ends too
    assert world.registry_token("iambearer", access, PUSH).status_code == 401


def test_session_lasts_no_longer_than_the_rules_expiration(world: World,
                                                           issuers: list[Issuer]) -> None:
    world.profile("short", issuers[0].url, [eq("repository", "acme/short")], expiration=90)
    token = issuers[0].github(repository="acme/short")
    r = exchange(world, {"grant_type": CR_TOKEN, "cr_token": token, "profile_name": "short"})
    assert 85 <= r.json()["expires_in"] <= 90
    assert 85 <= world.registry_token("iamprofile/short", token, PUSH).json()["expires_in"] <= 90


def test_audit_records_the_profile_and_the_workloads_iss_and_sub(world: World,
                                                                 issuers: list[Issuer]) -> None:
    profile, rule = world.profile("audited", issuers[0].url, [eq("repository", "acme/audit")])
    token = issuers[0].github(repository="acme/audit")
    assert world.registry_token("iamprofile/audited", token, PUSH).status_code == 200
    deadline = time.monotonic() + 10
    while True:
        events = world.ok("GET", "/v1/audit-events", params={
            "subject": profile["iam_id"], "action": "container-registry.token"})["data"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    detail = json.loads(events[0]["detail"])
    assert events[0]["outcome"] == "success"
    assert detail["workload"] == {"iss": issuers[0].url,
                                  "sub": "repo:acme/audit:ref:refs/heads/main"}
    assert detail["rule_id"] == rule["id"]


# --- explain -------------------------------------------------------------------------------

def test_test_token_names_the_matching_rule(world: World, issuers: list[Issuer]) -> None:
    profile = world.ok("GET", "/v1/profiles", params={"name": "ci-push"})["data"][0]
    r = world.client.post(f"/v1/profiles/{profile['id']}/test", headers=world.admin,
                          json={"token": issuers[0].github()})
    assert r.status_code == 200, r.text
    assert r.json()["matched"] is True
    assert r.json()["rules"][0]["failures"] == []


def test_test_token_says_which_condition_fails(world: World, issuers: list[Issuer]) -> None:
    profile = world.ok("GET", "/v1/profiles", params={"name": "ci-push"})["data"][0]
    r = world.client.post(f"/v1/profiles/{profile['id']}/test", headers=world.admin,
                          json={"token": issuers[0].github(ref="refs/heads/dev")})
    assert r.status_code == 200
    assert r.json()["matched"] is False and r.json()["matched_rule"] is None
    assert r.json()["rules"][0]["failures"] == [
        'ref EQUALS "refs/heads/main": the token says "refs/heads/dev"']


def test_test_token_says_why_the_token_itself_is_refused(world: World,
                                                         issuers: list[Issuer]) -> None:
    profile = world.ok("GET", "/v1/profiles", params={"name": "ci-push"})["data"][0]
    r = world.client.post(f"/v1/profiles/{profile['id']}/test", headers=world.admin,
                          json={"token": issuers[0].github(audience="nope")})
    assert r.json()["rules"][0]["failures"][0].startswith("the workload token's audience")


def test_token_whose_claims_were_changed_after_signing_is_refused(
        world: World, issuers: list[Issuer]) -> None:
    head, body, signature = issuers[0].github(repository="acme/other").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["repository"] = "acme/web"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert _refusal(world, f"{head}.{forged_body}.{signature}") == \
        "the workload token's signature is not valid"


def test_token_that_is_no_jwt_is_refused(world: World) -> None:
    assert _refusal(world, "not.a-jwt.at all") == "the workload token is not a JWT"
