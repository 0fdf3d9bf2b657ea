"""The seed's scenario through the real `iam serve` and the real CLI.

Set-up (service IDs, keys, namespaces) goes straight to the API to keep the suite fast; what
the scenario is about goes through the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server import Server, make_server

pytestmark = pytest.mark.server
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("policies-server"))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    srv.cli("login", "--apikey", f"@{srv.root / 'owner.key'}", "--endpoint", srv.url)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def owner_api(server: Server) -> Iterator[httpx.Client]:
    key = (server.root / "owner.key").read_text().strip()
    token = httpx.post(f"{server.url}/identity/token",
                       data={"grant_type": APIKEY_GRANT, "apikey": key}, timeout=10)
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
        yield client


def new_robot(api: httpx.Client, name: str) -> tuple[str, str]:
    sid = api.post("/v1/serviceids", json={"name": name}).json()
    key = api.post("/v1/apikeys", json={"name": "key", "iam_id": sid["iam_id"]}).json()
    return sid["iam_id"], key["apikey"]


def logged_in_as(server: Server, apikey: str, name: str) -> Server:
    """The same server, with a CLI logged in with another key (its own config file)."""
    env = {**server.env, "IAM_CLI_CONFIG": str(server.root / f"{name}.json")}
    other = dataclasses.replace(server, env=env, process=None)
    other.cli("login", "--apikey", apikey, "--endpoint", server.url)
    return other


def test_seed_scenario_through_the_cli(server: Server, owner_api: httpx.Client) -> None:
    """Administrator + Manager on ns01: delete and re-create it, grant Reader on it, not on
    ns02; the Reader may pull, not push, and access-check says why."""
    for name in ("ns01", "ns02"):
        assert owner_api.put(f"/v1/namespaces/{name}").status_code == 201
    ci, ci_key = new_robot(owner_api, "ci")
    reader, _ = new_robot(owner_api, "reader")
    policy = server.cli("service-policy-create", "ci", "--roles", "Manager,Administrator",
                        "--service-name", "container-registry", "--resource-type",
                        "namespace", "--resource", "ns01", "--output", "json").json()
    assert policy["roles"] == ["Manager", "Administrator"]
    assert policy["subject"] == {"iam_id": ci}

    robot = logged_in_as(server, ci_key, "ci")
    names = [n["name"] for n in robot.cli("namespace-list", "--output", "json").json()]
    assert names == ["ns01"]
    robot.cli("namespace-rm", "ns01", "-f")
    robot.cli("namespace-add", "ns01")
    robot.cli("service-policy-create", reader, "--roles", "Reader", "--service-name",
              "container-registry", "--resource", "ns01")
    refused = robot.cli("service-policy-create", reader, "--roles", "Reader",
                        "--service-name", "container-registry", "--resource", "ns02",
                        check=False)
    assert refused.code == 1 and "container-registry.policy.manage" in refused.stderr
    refused = robot.cli("namespace-rm", "ns02", "-f", check=False)
    assert refused.code == 1 and "container-registry.namespace.delete" in refused.stderr

    pull = robot.cli("access-check", reader, "container-registry.image.pull",
                     "--namespace", "ns01")
    assert pull.stdout.startswith("allowed")
    push = robot.cli("access-check", reader, "container-registry.image.push",
                     "--namespace", "ns01", check=False)
    assert push.code == 1 and push.stdout.startswith("denied")
    assert "none of their roles includes container-registry.image.push" in push.stdout
    assert "roles that include it: Writer, Manager" in push.stdout


def test_access_group_policy_through_the_cli(server: Server, owner_api: httpx.Client) -> None:
    assert owner_api.put("/v1/namespaces/team-g").status_code == 201
    member, _ = new_robot(owner_api, "group-member")
    server.cli("access-group-create", "builders", "-d", "CI robots")
    server.cli("access-group-service-id-add", "builders", member)
    server.cli("access-group-policy-create", "builders", "--roles", "Writer", "--service-name",
               "container-registry", "--resource", "team-g", "--repository", "web-*")
    ok = server.cli("access-check", member, "container-registry.image.push", "--namespace",
                    "team-g", "--repository", "web-ui", "--output", "json").json()
    assert ok["allowed"] and ok["granted_by"][0]["roles"] == ["Writer"]
    no = server.cli("access-check", member, "container-registry.image.push", "--namespace",
                    "team-g", "--repository", "api", "--output", "json", check=False)
    assert no.code == 1 and not no.json()["allowed"] and "web-*" in no.json()["reason"]


def test_policy_delete_refuses_another_identitys_policy(server: Server,
                                                         owner_api: httpx.Client) -> None:
    """`service-policy-delete A <a policy of B>` deletes nothing (a copied id is a common
    slip); with the right subject the policy goes."""
    first, _ = new_robot(owner_api, "first-robot")
    second, _ = new_robot(owner_api, "second-robot")
    policy = server.cli("service-policy-create", second, "--roles", "Reader",
                        "--service-name", "container-registry", "--output", "json").json()
    refused = server.cli("service-policy-delete", first, policy["id"], "-f", check=False)
    assert refused.code == 1 and "not a policy of" in refused.stderr
    assert owner_api.get(f"/v1/policies/{policy['id']}").status_code == 200
    server.cli("service-policy-delete", second, policy["id"], "-f")
    assert owner_api.get(f"/v1/policies/{policy['id']}").status_code == 404


def policy_of(api: httpx.Client, subject: dict[str, str], roles: list[str],
              **resource: str) -> dict[str, Any]:
    """A policy made through the API (set-up; what is tested goes through the CLI)."""
    r = api.post("/v1/policies", json={"subject": subject, "roles": roles, "resource": {
        "service": "container-registry", **resource}})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_service_policy_update_replaces_roles_and_keeps_the_resource(
        server: Server, owner_api: httpx.Client) -> None:
    assert owner_api.put("/v1/namespaces/team-u").status_code == 201
    robot, _ = new_robot(owner_api, "update-robot")
    policy = policy_of(owner_api, {"iam_id": robot}, ["Reader"], resource_type="namespace",
                       resource="team-u")
    updated = server.cli("service-policy-update", robot, policy["id"], "--roles",
                         "Writer,Manager", "--output", "json").json()
    assert updated["id"] == policy["id"] and updated["roles"] == ["Writer", "Manager"]
    assert updated["resource"] == policy["resource"]
    assert owner_api.get(f"/v1/policies/{policy['id']}").json() == updated


def test_service_policy_update_with_resource_options_replaces_the_resource(
        server: Server, owner_api: httpx.Client) -> None:
    robot, _ = new_robot(owner_api, "narrowed-robot")
    policy = policy_of(owner_api, {"iam_id": robot}, ["Reader"])
    updated = server.cli("service-policy-update", "narrowed-robot", policy["id"],
                         "--resource", "team-u", "--repository", "web-*",
                         "--output", "json").json()
    assert updated["roles"] == ["Reader"]
    assert updated["resource"] == {"service": "container-registry",
                                   "resource_type": "namespace", "resource": "team-u",
                                   "repository": "web-*"}


def test_policy_update_without_a_change_is_refused(server: Server,
                                                    owner_api: httpx.Client) -> None:
    robot, _ = new_robot(owner_api, "unchanged-robot")
    policy = policy_of(owner_api, {"iam_id": robot}, ["Reader"])
    refused = server.cli("service-policy-update", robot, policy["id"], check=False)
    assert refused.code == 1 and "nothing to change" in refused.stderr
    assert owner_api.get(f"/v1/policies/{policy['id']}").json() == policy


def test_policy_update_refuses_another_identitys_policy(server: Server,
                                                         owner_api: httpx.Client) -> None:
    first, _ = new_robot(owner_api, "first-updater")
    second, _ = new_robot(owner_api, "second-updated")
    policy = policy_of(owner_api, {"iam_id": second}, ["Reader"])
    refused = server.cli("service-policy-update", first, policy["id"], "--roles", "Writer",
                         check=False)
    assert refused.code == 1 and "not a policy of" in refused.stderr
    assert owner_api.get(f"/v1/policies/{policy['id']}").json() == policy


def test_policy_update_beyond_the_callers_scope_is_refused(server: Server,
                                                            owner_api: httpx.Client) -> None:
    """An Administrator of team-v may not move a policy on team-v to team-w (the API's
    non-escalation rule, tests/test_non_escalation_table.py, reached through the CLI)."""
    for name in ("team-v", "team-w"):
        assert owner_api.put(f"/v1/namespaces/{name}").status_code == 201
    admin_v, admin_key = new_robot(owner_api, "admin-of-v")
    policy_of(owner_api, {"iam_id": admin_v}, ["Administrator"], resource_type="namespace",
              resource="team-v")
    target, _ = new_robot(owner_api, "granted-on-v")
    policy = policy_of(owner_api, {"iam_id": target}, ["Reader"], resource_type="namespace",
                       resource="team-v")
    refused = logged_in_as(server, admin_key, "admin-of-v").cli(
        "service-policy-update", target, policy["id"], "--resource", "team-w", check=False)
    assert refused.code == 1 and "HTTP 403" in refused.stderr
    assert "container-registry.policy.manage on namespace team-w" in refused.stderr
    assert owner_api.get(f"/v1/policies/{policy['id']}").json() == policy


def test_user_and_access_group_policy_update(server: Server, owner_api: httpx.Client) -> None:
    user = owner_api.post("/v1/users", json={"name": "updated-user",
                                             "password": "a long enough password"}).json()
    group = owner_api.post("/v1/groups", json={"name": "updated-group"}).json()
    for prefix, name, subject in (("user", "updated-user", {"iam_id": user["iam_id"]}),
                                  ("access-group", "updated-group",
                                   {"access_group_id": group["id"]})):
        policy = policy_of(owner_api, subject, ["Reader"])
        updated = server.cli(f"{prefix}-policy-update", name, policy["id"], "--roles",
                             "Writer", "--output", "json").json()
        assert updated["roles"] == ["Writer"] and updated["subject"] == subject


def test_access_check_exit_code_says_allowed_denied_or_unknown(
        server: Server, owner_api: httpx.Client) -> None:
    """0 allowed, 1 denied, 2 could not be asked: scripts can branch on it."""
    assert owner_api.put("/v1/namespaces/team-x").status_code == 201
    robot, _ = new_robot(owner_api, "checked-robot")
    policy_of(owner_api, {"iam_id": robot}, ["Reader"], resource_type="namespace",
              resource="team-x")
    allowed = server.cli("access-check", robot, "container-registry.image.pull",
                         "--namespace", "team-x", check=False)
    denied = server.cli("access-check", robot, "container-registry.image.push",
                        "--namespace", "team-x", "--output", "json", check=False)
    unknown = server.cli("access-check", "no-such-robot", "container-registry.image.pull",
                         "--namespace", "team-x", check=False)
    assert (allowed.code, denied.code, unknown.code) == (0, 1, 2)
    assert allowed.stdout.startswith("allowed") and denied.json()["allowed"] is False
    assert "no-such-robot" in unknown.stderr


def test_namespace_add_refuses_a_region_no_registry_serves(server: Server) -> None:
    refused = server.cli("namespace-add", "team-mars", "--region", "mars", check=False)
    assert refused.code == 1 and "HTTP 400" in refused.stderr
    assert "no registry serves the region 'mars'" in refused.stderr
    added = server.cli("namespace-add", "team-here", "--output", "json").json()
    assert (added["name"], added["region"]) == ("team-here", "")  # the only registry's


def test_deletes_answer_json(server: Server, owner_api: httpx.Client) -> None:
    robot, _ = new_robot(owner_api, "deleted-robot")
    policy = policy_of(owner_api, {"iam_id": robot}, ["Reader"])
    gone = server.cli("service-policy-delete", robot, policy["id"], "-f", "--output", "json")
    assert gone.json() == {"id": policy["id"], "deleted": True}
    removed = server.cli("service-id-delete", "deleted-robot", "-f", "--output", "json")
    assert removed.json() == {"id": robot.removeprefix("iam-"), "deleted": True}
