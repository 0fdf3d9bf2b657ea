"""A deleted namespace whose images could not all be removed leaves its name reserved to its
account in its region: here the default registry, `registry.local`, has no URL, so this
service cannot look inside it. The operator's release is refused while that holds, since
it would hand out a name whose images may remain."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import registries_in
from tests.server import Server, make_server
from tests.test_policies_api import Headers, namespace, robot, second_account

RESERVED = "/v1/namespace-reservations"


def reservations(client: TestClient, headers: Headers) -> list[tuple[str, str]]:
    r = client.get(RESERVED, headers=headers)
    assert r.status_code == 200, r.text
    return [(x["name"], x["region"]) for x in r.json()["data"]]


def release(client: TestClient, headers: Headers, name: str, region: str = "") -> int:
    return client.delete(f"{RESERVED}/{name}", params={"region": region},
                         headers=headers).status_code


@pytest.mark.regions("", "us-south", "eu-de")
def test_deleted_name_is_refused_to_another_account_with_409_reserved(
        client: TestClient, admin: Headers) -> None:
    assert namespace(client, admin, "team-old").status_code == 201
    r = client.delete("/v1/namespaces/team-old", params={"region": ""}, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "reserved"
    (sweep,) = body["registries"]
    assert sweep["registry"] == "registry.local" and sweep["permanent"] is True
    assert "no url" in sweep["error"]
    b = second_account(client, admin)
    r = namespace(client, b, "team-old")
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "conflict" and error["target"] == "name"
    assert "reserved" in error["message"]
    me = client.get(RESERVED, headers=admin).json()["data"][0]["account_id"]
    assert me not in r.text
    assert client.get("/v1/namespaces", headers=b).json()["count"] == 0


@pytest.mark.regions("", "us-south", "eu-de")
def test_deleted_name_is_free_in_another_region(client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", params={"region": ""}, headers=admin)
    b = second_account(client, admin)
    assert namespace(client, b, "team-old", "eu-de").status_code == 201


def test_same_account_may_add_its_deleted_name_again(client: TestClient,
                                                    admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", params={"region": ""}, headers=admin)
    r = namespace(client, admin, "team-old")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "team-old"
    assert reservations(client, admin) == []


@pytest.mark.regions("", "us-south", "eu-de")
def test_reservation_is_listed_for_the_operator_with_account_and_deleted_at(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", params={"region": ""}, headers=admin)
    r = client.get(RESERVED, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1 and body["next_pagestart"] is None
    (item,) = body["data"]
    assert set(item) == {"name", "region", "account_id", "deleted_at"}
    assert (item["name"], item["region"]) == ("team-old", "")
    assert item["account_id"] and item["deleted_at"]


def test_reservations_are_listed_a_page_at_a_time(client: TestClient, admin: Headers) -> None:
    for name in ("ns-a1", "ns-b2", "ns-c3"):
        namespace(client, admin, name)
        client.delete(f"/v1/namespaces/{name}", headers=admin)
    first = client.get(RESERVED, params={"limit": 2}, headers=admin).json()
    assert [x["name"] for x in first["data"]] == ["ns-a1", "ns-b2"] and first["count"] == 3
    rest = client.get(RESERVED, params={"limit": 2, "pagestart": first["next_pagestart"]},
                      headers=admin).json()
    assert [x["name"] for x in rest["data"]] == ["ns-c3"] and rest["next_pagestart"] is None


def test_operator_release_is_refused_while_a_registry_of_the_region_cannot_be_checked(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", params={"region": ""}, headers=admin)
    b = second_account(client, admin)
    r = client.delete(f"{RESERVED}/team-old", headers=admin)
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["target"] == "registry"
    assert "stays reserved" in error["message"] and "registry.local" in error["message"]
    assert reservations(client, admin) == [("team-old", "")]
    assert namespace(client, b, "team-old").status_code == 409
    assert namespace(client, admin, "team-old").status_code == 201  # still the account's


def test_releasing_an_unknown_or_live_name_is_404(client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-live")
    for name in ("team-live", "team-none"):
        r = client.delete(f"{RESERVED}/{name}", headers=admin)
        assert r.status_code == 404, r.text
        assert "no reservation" in r.json()["errors"][0]["message"]
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 1


def test_releasing_a_malformed_name_is_400(client: TestClient, admin: Headers) -> None:
    r = client.delete(f"{RESERVED}/TEAM", headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == "name"


def test_non_operator_cannot_release_a_reservation(client: TestClient, admin: Headers) -> None:
    b = second_account(client, admin)
    namespace(client, b, "team-bee")
    client.delete("/v1/namespaces/team-bee", headers=b)
    r = client.delete(f"{RESERVED}/team-bee", headers=b)
    assert r.status_code == 403, r.text
    assert "only the system operator" in r.json()["errors"][0]["message"]
    assert reservations(client, admin) == [("team-bee", "")]


def test_non_operator_lists_only_its_own_accounts_reservations(client: TestClient,
                                                              admin: Headers) -> None:
    namespace(client, admin, "team-ops")
    client.delete("/v1/namespaces/team-ops", headers=admin)
    b = second_account(client, admin)
    assert reservations(client, b) == []
    namespace(client, b, "team-bee")
    client.delete("/v1/namespaces/team-bee", headers=b)
    assert reservations(client, b) == [("team-bee", "")]
    assert sorted(reservations(client, admin)) == [("team-bee", ""), ("team-ops", "")]


def test_listing_reservations_needs_namespace_list(client: TestClient, admin: Headers) -> None:
    _, headers = robot(client, admin, "no-roles")
    r = client.get(RESERVED, headers=headers)
    assert r.status_code == 403, r.text
    assert "container-registry.namespace.list" in r.json()["errors"][0]["message"]


# --- against the running server, with the CLI ----------------------------------------------

@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = make_server(tmp_path / "srv", IAM_REGISTRIES=json.dumps(registries_in("us-south")))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    yield srv
    srv.stop()


def _login(server: Server, keyfile: Path) -> None:
    server.cli("login", "--apikey", f"@{keyfile}", "--endpoint", server.url)


def test_deleted_namespace_name_is_not_inherited_by_another_account(server: Server) -> None:
    operator_key = server.root / "owner.key"
    _login(server, operator_key)
    created = server.cli("account-create", "tenant-two", "--output", "json").json()
    two_key = server.root / "two.key"
    two_key.write_text(created["apikey"])
    two_key.chmod(0o600)

    server.cli("namespace-add", "team-old")
    removed = server.cli("namespace-rm", "team-old", "-f", "--output", "json").json()
    assert (removed["name"], removed["state"]) == ("team-old", "reserved")
    shown = server.cli("namespace-rm", "team-old", "-f", check=False)
    assert shown.code == 1 and "HTTP 404" in shown.stderr
    server.cli("namespace-add", "team-gone")
    table = server.cli("namespace-rm", "team-gone", "-f").stdout
    assert "stays reserved to your account" in table and "no url" in table

    _login(server, two_key)
    taken = server.cli("namespace-add", "team-old", check=False)
    assert taken.code == 1
    assert "reserved" in taken.stderr and "HTTP 409" in taken.stderr
    refused = server.cli("namespace-release", "team-old", check=False)
    assert refused.code == 1 and "HTTP 403" in refused.stderr
    assert server.cli("namespace-reservations", "--output", "json").json() == []

    _login(server, operator_key)
    listed = server.cli("namespace-reservations", "--output", "json").json()
    assert [(x["name"], x["region"]) for x in listed] == [("team-gone", "us-south"),
                                                          ("team-old", "us-south")]
    assert listed[0]["account_id"] != created["id"] and listed[0]["deleted_at"]
    table = server.cli("namespace-reservations").stdout
    assert "team-old" in table and "DELETED_AT" in table
    kept = server.cli("namespace-release", "team-old", check=False)
    assert kept.code == 1 and "HTTP 409" in kept.stderr
    assert "registry.us-south" in kept.stderr
    assert len(server.cli("namespace-reservations", "--output", "json").json()) == 2
    again = server.cli("namespace-add", "team-old", "--output", "json").json()
    assert again["name"] == "team-old" and again["account_id"] != created["id"]
