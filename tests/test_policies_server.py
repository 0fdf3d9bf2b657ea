"""The seed's scenario through the real `iam serve` and the real CLI.

Set-up (service IDs, keys, namespaces) goes straight to the API to keep the suite fast; what
the scenario is about goes through the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

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
                     "--namespace", "ns01")
    assert push.stdout.startswith("denied")
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
                    "team-g", "--repository", "api", "--output", "json").json()
    assert not no["allowed"] and "web-*" in no["reason"]


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
