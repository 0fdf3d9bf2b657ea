"""Attacks from inside an account against the running `iam serve`, each one that worked
before the least-privilege work: escalation through keys, groups and passwords (refused by
the non-escalation rule, `iam.access.delegation`), counts that leaked what the caller may not
see, audit queries that answered 500, and look-alike names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.server import Server, make_server

pytestmark = pytest.mark.server

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
PASSWORD = "correct horse battery"
Headers = dict[str, str]


@dataclass
class World:
    server: Server
    owner_iam_id: str
    owner_key_id: str
    admin: Headers

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    def post(self, path: str, headers: Headers, **kw: Any) -> httpx.Response:
        return httpx.post(self.url(path), headers=headers, timeout=10, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, self.url(path), headers=self.admin, timeout=10, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def bearer(self, apikey: str) -> Headers:
        r = httpx.post(self.url("/identity/token"), timeout=10,
                       data={"grant_type": APIKEY_GRANT, "apikey": apikey})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def identity(self, name: str, *policies: dict[str, Any]) -> tuple[str, Headers]:
        """A service ID holding `policies`, and its access token's headers."""
        iam_id = self.ok("POST", "/v1/serviceids", json={"name": name})["iam_id"]
        for body in policies:
            self.ok("POST", "/v1/policies", json={"subject": {"iam_id": iam_id}, **body})
        key = self.ok("POST", "/v1/apikeys", json={"name": "k", "iam_id": iam_id})
        return iam_id, self.bearer(key["apikey"])


def role(service: str, *roles: str) -> dict[str, Any]:
    return {"roles": list(roles), "resource": {"service": service}}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    srv = make_server(tmp_path_factory.mktemp("escalation"))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    try:
        owner_key = (srv.root / "owner.key").read_text().strip()
        w = World(srv, "", "", {})
        w.admin = w.bearer(owner_key)
        keys = w.ok("GET", "/v1/apikeys")["data"]
        w.owner_iam_id, w.owner_key_id = keys[0]["iam_id"], keys[0]["id"]
        yield w
    finally:
        srv.stop()
    assert "Traceback" not in srv.logs()


def _forbidden(r: httpx.Response) -> str:
    assert r.status_code == 403, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "forbidden"
    return str(error["message"])


def test_identity_operator_cannot_create_a_key_for_the_account_owner(world: World) -> None:
    _, operator = world.identity("operator-1", role("iam-identity", "Operator"))
    r = world.post("/v1/apikeys", operator, json={"name": "mine", "iam_id": world.owner_iam_id})
    assert "managed only by itself" in _forbidden(r)
    keys = world.ok("GET", "/v1/apikeys", params={"iam_id": world.owner_iam_id})["data"]
    assert [k["name"] for k in keys] == ["bootstrap"]


def test_identity_operator_cannot_create_a_key_for_an_access_administrator(
        world: World) -> None:
    _, operator = world.identity("operator-2", role("iam-identity", "Operator"))
    admin_id, _ = world.identity("access-admin", role("iam-access-management", "Administrator"))
    r = world.post("/v1/apikeys", operator, json={"name": "mine", "iam_id": admin_id})
    message = _forbidden(r)
    assert "iam-access-management.policy.manage" in message
    assert admin_id in message
    assert len(world.ok("GET", "/v1/apikeys", params={"iam_id": admin_id})["data"]) == 1


def test_identity_operator_cannot_disable_the_owners_key(world: World) -> None:
    _, operator = world.identity("operator-3", role("iam-identity", "Operator"))
    r = world.post(f"/v1/apikeys/{world.owner_key_id}/disable", operator)
    _forbidden(r)
    assert world.ok("GET", f"/v1/apikeys/{world.owner_key_id}")["disabled"] is False


def test_identity_operator_still_creates_keys_for_a_robot_it_could_grant(world: World) -> None:
    """The rule refuses escalation, not the job: a robot holding nothing gets its key."""
    _, operator = world.identity("operator-4", role("iam-identity", "Operator"))
    robot = world.ok("POST", "/v1/serviceids", json={"name": "plain-robot"})["iam_id"]
    r = world.post("/v1/apikeys", operator, json={"name": "ci", "iam_id": robot})
    assert r.status_code == 201, r.text


def test_access_editor_cannot_join_a_group_holding_administrator(world: World) -> None:
    editor_id, editor = world.identity("editor-1", role("iam-access-management", "Editor"))
    group = world.ok("POST", "/v1/groups", json={"name": "admins"})["id"]
    world.ok("POST", "/v1/policies", json={"subject": {"access_group_id": group},
                                           **role("iam-access-management", "Administrator")})
    r = world.post(f"/v1/groups/{group}/members", editor, json={"iam_id": editor_id})
    assert "iam-access-management.policy.manage" in _forbidden(r)
    assert world.ok("GET", f"/v1/groups/{group}/members")["count"] == 0
    r = httpx.put(world.url("/v1/namespaces/team-x"), headers=editor, timeout=10)
    assert r.status_code == 403


def test_bearer_token_alone_cannot_change_its_users_password(world: World) -> None:
    user = world.ok("POST", "/v1/users", json={"name": "alice", "password": PASSWORD})
    login = httpx.post(world.url("/identity/token"), timeout=10, data={
        "grant_type": "password", "username": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
    stolen = {"Authorization": f"Bearer {login.json()['access_token']}"}
    r = httpx.put(world.url(f"/v1/users/{user['iam_id']}/password"), headers=stolen,
                  timeout=10, json={"password": "attacker's own password"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == "current_password"
    again = httpx.post(world.url("/identity/token"), timeout=10, data={
        "grant_type": "password", "username": "alice", "password": PASSWORD})
    assert again.status_code == 200


def test_identity_editor_cannot_delete_the_owners_service_id(world: World) -> None:
    _, editor = world.identity("id-editor", role("iam-identity", "Editor"))
    r = httpx.delete(world.url(f"/v1/serviceids/{world.owner_iam_id}"), headers=editor,
                     timeout=10)
    _forbidden(r)
    assert world.ok("GET", f"/v1/serviceids/{world.owner_iam_id}")["iam_id"] == \
        world.owner_iam_id


def test_access_editor_cannot_delete_a_group_whose_policies_it_could_not_grant(
        world: World) -> None:
    """Deleting a group deletes its policies: the same right as deleting each of them."""
    _, editor = world.identity("editor-2", role("iam-access-management", "Editor"))
    group = world.ok("POST", "/v1/groups", json={"name": "keepers"})["id"]
    world.ok("POST", "/v1/policies", json={"subject": {"access_group_id": group},
                                           **role("iam-identity", "Administrator")})
    r = httpx.delete(world.url(f"/v1/groups/{group}"), headers=editor, timeout=10)
    _forbidden(r)
    assert world.ok("GET", f"/v1/groups/{group}")["id"] == group


def test_listing_anothers_policies_counts_only_what_the_caller_may_see(world: World) -> None:
    """`count` and paging were computed before the visibility filter: `count: 2` leaked."""
    target, _ = world.identity("policy-holder", role("iam-identity", "Viewer"),
                               role("iam-access-management", "Viewer"))
    _, reader = world.identity("curious", role("container-registry", "Reader"))
    for limit in (1, 100):
        r = httpx.get(world.url("/v1/policies"), headers=reader, timeout=10,
                      params={"iam_id": target, "limit": limit})
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 0
        assert r.json()["data"] == []
        assert r.json()["next_pagestart"] is None


def test_audit_query_with_an_out_of_range_id_is_a_400_not_a_500(world: World) -> None:
    r = httpx.get(world.url("/v1/audit-events"), headers=world.admin, timeout=10,
                  params={"before_id": "9999999999999999999999999"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == "before_id"


def test_audit_query_with_a_naive_time_is_taken_as_utc(world: World) -> None:
    r = httpx.get(world.url("/v1/audit-events"), headers=world.admin, timeout=10,
                  params={"since": "2024-01-01T00:00:00"})
    assert r.status_code == 200, r.text
    assert r.json()["data"], "every event of this run is after 2024 in UTC"


def test_a_full_width_look_alike_user_name_is_refused(world: World) -> None:
    world.ok("POST", "/v1/users", json={"name": "rtalice", "password": PASSWORD})
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "rtalice")  # U+FF52...
    r = httpx.post(world.url("/v1/users"), headers=world.admin, timeout=10,
                   json={"name": full_width, "password": PASSWORD})
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["target"] == "name"
