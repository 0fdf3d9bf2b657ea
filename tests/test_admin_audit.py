"""Every admin call leaves one audit event, whose before and after the domain recorded.

One scenario calls every mutating route of `/v1` once: a route that it misses fails the first
test, so a new route cannot go unaudited unnoticed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from iam.api.audit_middleware import MUTATING
from iam.config import Settings
from iam.store import models
from iam.store.journal import ChangeJournal
from tests.conftest import Owner
from tests.server import free_port
from tests.test_layout import api_routes

Headers = dict[str, str]
PASSWORD = "correct horse battery staple"
STATIC_JWKS = {"keys": [json.loads(jwt.algorithms.ECAlgorithm.to_jwk(
    ec.generate_private_key(ec.SECP256R1()).public_key())) | {"kid": "static-1"}]}


def _admin_events(client: TestClient, headers: Headers, expect: int) -> list[dict[str, Any]]:
    """The account's `admin.*` events, oldest first, once `expect` of them are written."""
    deadline = time.monotonic() + 10
    while True:
        r = client.get("/v1/audit-events", params={"action": "admin.", "limit": 1000},
                       headers=headers)
        assert r.status_code == 200, r.text
        data: list[dict[str, Any]] = r.json()["data"]
        if len(data) >= expect or time.monotonic() > deadline:
            return [{**e, "detail": json.loads(e["detail"])} for e in reversed(data)]
        time.sleep(0.1)


def _tagged(client: TestClient, path: str, headers: Headers) -> Headers:
    return {**headers, "If-Match": client.get(path, headers=headers).headers["ETag"]}


def _every_change(client: TestClient, admin: Headers) -> list[tuple[str, Response]]:
    """Each mutating route once, in an order that makes each succeed."""
    calls: list[tuple[str, Response]] = []

    def call(route: str, method: str, path: str, headers: Headers | None = None,
             **kw: Any) -> Any:
        r = client.request(method, path, headers=headers or admin, **kw)
        assert r.status_code < 300, (route, r.text)
        calls.append((route, r))
        return r.json() if r.content else None

    sid = call("create_service_id", "POST", "/v1/serviceids", json={"name": "robot"})
    path = f"/v1/serviceids/{sid['id']}"
    call("update_service_id", "PUT", path, _tagged(client, path, admin),
         json={"description": "builds"})
    call("lock_service_id", "POST", f"{path}/lock")
    call("unlock_service_id", "DELETE", f"{path}/lock")
    key = call("create_api_key", "POST", "/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]})
    key_path = f"/v1/apikeys/{key['id']}"
    call("update_api_key", "PUT", key_path, _tagged(client, key_path, admin), json={"name": "k2"})
    call("lock_api_key", "POST", f"{key_path}/lock")
    call("unlock_api_key", "DELETE", f"{key_path}/lock")
    call("disable_api_key", "POST", f"{key_path}/disable")
    call("enable_api_key", "DELETE", f"{key_path}/disable")
    call("delete_api_key", "DELETE", key_path)
    user = call("create_user", "POST", "/v1/users", json={"name": "alice", "password": PASSWORD})
    user_path = f"/v1/users/{user['iam_id']}"
    call("update_user", "PUT", user_path, _tagged(client, user_path, admin), json={"name": "al"})
    call("lock_user", "POST", f"{user_path}/lock")
    call("unlock_user", "DELETE", f"{user_path}/lock")
    call("change_password", "PUT", f"{user_path}/password", json={"password": PASSWORD + "!"})
    group = call("create_group", "POST", "/v1/groups", json={"name": "builders"})
    group_path = f"/v1/groups/{group['id']}"
    call("update_group", "PUT", group_path, _tagged(client, group_path, admin),
         json={"description": "CI"})
    call("add_member", "POST", f"{group_path}/members", json={"iam_id": sid["iam_id"]})
    call("remove_member", "DELETE", f"{group_path}/members/{sid['iam_id']}")
    call("create_namespace", "PUT", "/v1/namespaces/team-a")
    policy = call("create_policy", "POST", "/v1/policies", json={
        "subject": {"iam_id": sid["iam_id"]}, "roles": ["Reader"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "team-a"}})
    policy_path = f"/v1/policies/{policy['id']}"
    call("update_policy", "PUT", policy_path, _tagged(client, policy_path, admin), json={
        "subject": {"iam_id": sid["iam_id"]}, "roles": ["Writer"],
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "team-a"}})
    call("check_access", "POST", "/v1/authz/check", json={
        "iam_id": sid["iam_id"], "action": "container-registry.image.push",
        "resource": {"service": "container-registry", "resource_type": "namespace",
                     "resource": "team-a"}})
    issuer = call("create_issuer", "POST", "/v1/issuers", json={
        "url": "https://issuer.example", "audiences": ["registry-iam"], "jwks": STATIC_JWKS})
    issuer_path = f"/v1/issuers/{issuer['id']}"
    call("update_issuer", "PUT", issuer_path, _tagged(client, issuer_path, admin),
         json={"max_token_age": 600})
    profile = call("create_profile", "POST", "/v1/profiles", json={"name": "ci-push"})
    profile_path = f"/v1/profiles/{profile['id']}"
    call("update_profile", "PUT", profile_path, _tagged(client, profile_path, admin),
         json={"description": "CI pushes"})
    rule_body = {"name": "main", "issuer": "https://issuer.example",
                 "conditions": [{"claim": "ref", "operator": "EQUALS", "value": "main"}]}
    rule = call("create_rule", "POST", f"{profile_path}/rules", json=rule_body)
    rule_path = f"{profile_path}/rules/{rule['id']}"
    call("update_rule", "PUT", rule_path, _tagged(client, rule_path, admin),
         json={**rule_body, "expiration": 600})
    call("test_token", "POST", f"{profile_path}/test", json={"token": "not-a-jwt"})
    call("delete_rule", "DELETE", rule_path)
    call("delete_profile", "DELETE", profile_path)
    call("delete_issuer", "DELETE", issuer_path)
    call("delete_policy", "DELETE", policy_path)
    call("delete_namespace", "DELETE", "/v1/namespaces/team-a")
    call("delete_group", "DELETE", group_path)
    call("delete_user", "DELETE", user_path)
    call("delete_service_id", "DELETE", path)
    call("create_account", "POST", "/v1/accounts", json={"name": "tenant-b"})
    call("create_registry", "POST", "/v1/registries", json={"service": "registry.ap",
                                                             "region": "ap-north"})
    # Without a URL its content cannot be removed: the deleted namespace's name stays
    # reserved; with one (nothing listens there), its release is under way (202).
    ap = {"region": "ap-north"}
    call("create_namespace", "PUT", "/v1/namespaces/team-ap", params=ap)
    call("delete_namespace", "DELETE", "/v1/namespaces/team-ap", params=ap)
    registry_path = "/v1/registries/registry.ap"
    call("update_registry", "PATCH", registry_path, _tagged(client, registry_path, admin),
         json={"url": f"http://127.0.0.1:{free_port()}"})
    call("release_namespace_reservation", "DELETE", "/v1/namespace-reservations/team-ap",
         params=ap)
    call("delete_registry", "DELETE", registry_path)
    return calls


#: Mutating routes that need a real registry: tests/test_registry_content.py calls each
#: against docker-registry and checks its event and the digests it touched (image-untag's
#: refusal only: distribution 2.8 has no tag deletion).
REGISTRY_ROUTES = {"tag_image", "remove_images", "untag_image", "remove_repository"}


def _mutating_routes(client: TestClient) -> set[str]:
    return {r.name for r in api_routes(client.app.routes)  # type: ignore[attr-defined]
            if r.path.startswith("/v1/") and r.methods & MUTATING}


def test_every_mutating_route_leaves_one_event_with_its_change(
        client: TestClient, admin: Headers, owner: Owner) -> None:
    calls = _every_change(client, admin)
    assert {name for name, _ in calls} | REGISTRY_ROUTES == _mutating_routes(client)
    events = _admin_events(client, admin, expect=len(calls))
    assert [e["action"] for e in events] == [f"admin.{name}" for name, _ in calls]
    for (name, r), event in zip(calls, events, strict=True):
        assert event["outcome"] == "success" and event["actor"] == owner.iam_id, name
        assert event["target"] == r.request.url.path, name
        detail = event["detail"]
        assert detail["status"] == r.status_code and detail["method"] == r.request.method
        assert "after" in detail or "before" in detail, name


def test_changes_show_public_fields_before_and_after_never_a_secret(
        client: TestClient, admin: Headers, owner: Owner) -> None:
    calls = _every_change(client, admin)
    events = {e["action"]: e["detail"] for e in _admin_events(client, admin, len(calls))}
    update = events["admin.update_service_id"]
    assert (update["before"]["description"], update["after"]["description"]) == ("", "builds")
    assert update["before"]["entity_tag"] != update["after"]["entity_tag"]
    deleted = events["admin.delete_user"]
    assert "after" not in deleted and deleted["before"]["name"] == "al"
    password = events["admin.change_password"]
    assert password["before"]["password_changed_at"] < password["after"]["password_changed_at"]
    assert events["admin.create_api_key"]["after"]["apikey"] == "***"
    account = events["admin.create_account"]
    assert account["after"]["name"] == "tenant-b"
    assert [(p["kind"], "after" in p) for p in account["also"]] == [
        ("service ID", True), ("API key", True)]
    assert account["after"]["owner_iam_id"] == account["also"][0]["after"]["iam_id"]
    assert events["admin.check_access"]["after"]["allowed"] is True
    trail = json.dumps(events)
    for secret in ("key_hash", "password_hash", "name_key", PASSWORD, "riam_"):
        assert secret not in trail
    for _, r in calls:
        for value in (r.json() if r.content else {}).values():
            if isinstance(value, str) and value.startswith("riam_"):
                assert value not in trail


def test_deleting_an_identity_names_every_key_membership_and_policy_that_went_with_it(
        client: TestClient, admin: Headers) -> None:
    sid = client.post("/v1/serviceids", json={"name": "robot"}, headers=admin).json()
    key = client.post("/v1/apikeys", json={"name": "k", "iam_id": sid["iam_id"]},
                      headers=admin).json()
    group = client.post("/v1/groups", json={"name": "g"}, headers=admin).json()
    client.post(f"/v1/groups/{group['id']}/members", json={"iam_id": sid["iam_id"]},
                headers=admin).raise_for_status()
    policy = client.post("/v1/policies", headers=admin, json={
        "subject": {"iam_id": sid["iam_id"]}, "roles": ["Viewer"],
        "resource": {"service": "iam-identity"}}).json()
    assert client.delete(f"/v1/serviceids/{sid['id']}", headers=admin).status_code == 204
    deleted = _admin_events(client, admin, expect=5)[-1]
    assert deleted["action"] == "admin.delete_service_id"
    detail = deleted["detail"]
    assert detail["before"]["iam_id"] == sid["iam_id"]
    assert [(p["kind"], "before" in p, "after" in p) for p in detail["also"]] == [
        ("API key", True, False), ("group member", True, False), ("policy", True, False)]
    assert detail["also"][0]["before"]["id"] == key["id"]
    assert detail["also"][1]["before"]["group_id"] == group["id"]
    assert detail["also"][2]["before"]["id"] == policy["id"]
    assert "key_hash" not in json.dumps(detail)


def test_deleting_a_group_names_its_memberships_and_policies(client: TestClient,
                                                            admin: Headers) -> None:
    sid = client.post("/v1/serviceids", json={"name": "robot"}, headers=admin).json()
    group = client.post("/v1/groups", json={"name": "g"}, headers=admin).json()
    client.post(f"/v1/groups/{group['id']}/members", json={"iam_id": sid["iam_id"]},
                headers=admin).raise_for_status()
    client.post("/v1/policies", headers=admin, json={
        "subject": {"access_group_id": group["id"]}, "roles": ["Viewer"],
        "resource": {"service": "iam-identity"}}).raise_for_status()
    assert client.delete(f"/v1/groups/{group['id']}", headers=admin).status_code == 204
    deleted = _admin_events(client, admin, expect=5)[-1]
    assert deleted["action"] == "admin.delete_group"
    assert [p["kind"] for p in deleted["detail"]["also"]] == ["group member", "policy"]


def test_a_lock_already_held_changes_nothing_and_says_so(
        client: TestClient, admin: Headers) -> None:
    sid = client.post("/v1/serviceids", json={"name": "robot"}, headers=admin).json()
    for _ in range(2):
        assert client.post(f"/v1/serviceids/{sid['id']}/lock", headers=admin).status_code == 200
    events = _admin_events(client, admin, expect=3)
    assert [e["detail"].get("after", {}).get("locked") for e in events[1:]] == [True, None]


def _trail(settings: Settings, expect: int) -> list[dict[str, Any]]:
    """Every `admin.*` row of every account, oldest first, once `expect` are written."""
    engine = create_engine(settings.db_url)
    deadline = time.monotonic() + 10
    try:
        while True:
            with engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(text(
                    "SELECT * FROM audit_events WHERE action LIKE 'admin.%' ORDER BY id"))]
            if len(rows) >= expect or time.monotonic() > deadline:
                return [{**r, "detail": json.loads(r["detail"])} for r in rows]
            time.sleep(0.1)
    finally:
        engine.dispose()


def test_refused_calls_leave_one_event_each_with_the_error_and_no_change(
        client: TestClient, admin: Headers, owner: Owner, settings: Settings) -> None:
    refused: list[tuple[Callable[[], Response], str, str]] = [
        (lambda: client.post("/v1/serviceids", json={"name": "x"}), "denied",
         "admin.create_service_id"),
        (lambda: client.post("/v1/serviceids", json={"name": 3}, headers=admin), "failure",
         "admin.create_service_id"),
        (lambda: client.delete("/v1/apikeys/ApiKey-none", headers=admin), "failure",
         "admin.delete_api_key"),
        (lambda: client.put("/v1/namespaces/NO", headers=admin), "failure",
         "admin.create_namespace"),
        (lambda: client.post("/v1/nothing", headers=admin), "failure",
         "admin.POST /v1/nothing"),
        (lambda: client.patch("/v1/namespaces/team-x", headers=admin), "failure",
         "admin.PATCH /v1/namespaces/team-x"),  # 405: not the PUT route's name
    ]
    answers = [send() for send, _, _ in refused]
    events = _trail(settings, expect=len(refused))
    assert [(e["action"], e["outcome"]) for e in events] == [(a, o) for _, o, a in refused]
    for r, event in zip(answers, events, strict=True):
        detail = event["detail"]
        assert detail["status"] == r.status_code
        assert detail["error"] == r.json()["errors"][0]["message"]
        assert "after" not in detail and "before" not in detail
    # no caller without a token, nor on a path no route serves (no route checked it)
    assert [e["actor"] for e in events] == ["", *[owner.iam_id] * 3, "", ""]


def test_public_fields_are_columns_and_never_a_digest_hash_or_key() -> None:
    tables = [m for m in vars(models).values()
              if isinstance(m, type) and issubclass(m, SQLModel) and hasattr(m, "__table__")]
    recorded = [m for m in tables if hasattr(m, "PUBLIC")]
    assert {m.__name__ for m in tables} - {m.__name__ for m in recorded} == {
        "AuditEvent", "AuthzGeneration"}
    for model in recorded:
        columns = set(model.__table__.columns.keys())  # type: ignore[attr-defined]
        assert set(model.PUBLIC) <= columns, model
        assert not set(model.PUBLIC) & {"key_hash", "password_hash", "name_key"}, model


def test_journal_names_the_last_change_and_its_parts() -> None:
    journal = ChangeJournal()
    assert journal.summary() == {}
    journal.record("part", after={"a": 1})
    journal.record("whole", before={"b": 1}, after={"b": 2})
    assert journal.summary() == {"before": {"b": 1}, "after": {"b": 2},
                                 "also": [{"kind": "part", "after": {"a": 1}}]}
