"""A deleted namespace's name is not inherited: it stays reserved to its account in its region
until the system operator releases it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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


def test_deleted_name_is_refused_to_another_account_with_409_reserved(
        client: TestClient, admin: Headers) -> None:
    assert namespace(client, admin, "team-old", "us-south").status_code == 201
    assert client.delete("/v1/namespaces/team-old", params={"region": "us-south"},
                         headers=admin).status_code == 204
    b = second_account(client, admin)
    r = namespace(client, b, "team-old", "us-south")
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "conflict" and error["target"] == "name"
    assert "reserved" in error["message"]
    me = client.get(RESERVED, headers=admin).json()["data"][0]["account_id"]
    assert me not in r.text
    assert client.get("/v1/namespaces", headers=b).json()["count"] == 0


def test_deleted_name_is_free_in_another_region(client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-old", "us-south")
    client.delete("/v1/namespaces/team-old", params={"region": "us-south"}, headers=admin)
    b = second_account(client, admin)
    assert namespace(client, b, "team-old", "eu-de").status_code == 201


def test_same_account_may_add_its_deleted_name_again(client: TestClient,
                                                    admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", headers=admin)
    r = namespace(client, admin, "team-old")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "team-old"
    assert reservations(client, admin) == []


def test_reservation_is_listed_for_the_operator_with_account_and_deleted_at(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-old", "us-south")
    client.delete("/v1/namespaces/team-old", params={"region": "us-south"}, headers=admin)
    r = client.get(RESERVED, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1 and body["next_pagestart"] is None
    (item,) = body["data"]
    assert set(item) == {"name", "region", "account_id", "deleted_at"}
    assert (item["name"], item["region"]) == ("team-old", "us-south")
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


def test_operator_release_lets_another_account_add_the_name(client: TestClient,
                                                           admin: Headers) -> None:
    namespace(client, admin, "team-old")
    client.delete("/v1/namespaces/team-old", headers=admin)
    b = second_account(client, admin)
    assert namespace(client, b, "team-old").status_code == 409
    assert release(client, admin, "team-old") == 204
    assert reservations(client, admin) == []
    r = namespace(client, b, "team-old")
    assert r.status_code == 201, r.text
    assert namespace(client, admin, "team-old").status_code == 409  # now b's: taken


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
    srv = make_server(tmp_path / "srv")
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    yield srv
    srv.stop()


def _login(server: Server, keyfile: Path) -> None:
    server.cli("login", "--apikey", f"@{keyfile}", "--endpoint", server.url)


@pytest.mark.server
def test_deleted_namespace_name_is_not_inherited_by_another_account(server: Server) -> None:
    operator_key = server.root / "owner.key"
    _login(server, operator_key)
    created = server.cli("account-create", "tenant-two", "--output", "json").json()
    two_key = server.root / "two.key"
    two_key.write_text(created["apikey"])
    two_key.chmod(0o600)

    server.cli("namespace-add", "team-old", "--region", "us-south")
    server.cli("namespace-rm", "team-old", "--region", "us-south", "-f")

    _login(server, two_key)
    taken = server.cli("namespace-add", "team-old", "--region", "us-south", check=False)
    assert taken.code == 1
    assert "reserved" in taken.stderr and "HTTP 409" in taken.stderr
    refused = server.cli("namespace-release", "team-old", "--region", "us-south", check=False)
    assert refused.code == 1 and "HTTP 403" in refused.stderr
    assert server.cli("namespace-reservations", "--output", "json").json() == []

    _login(server, operator_key)
    listed = server.cli("namespace-reservations", "--output", "json").json()
    assert [(x["name"], x["region"]) for x in listed] == [("team-old", "us-south")]
    assert listed[0]["account_id"] != created["id"] and listed[0]["deleted_at"]
    table = server.cli("namespace-reservations").stdout
    assert "team-old" in table and "DELETED_AT" in table
    released = server.cli("namespace-release", "team-old", "--region", "us-south",
                          "--output", "json").json()
    assert released == {"name": "team-old", "region": "us-south", "released": True}
    assert server.cli("namespace-reservations", "--output", "json").json() == []

    _login(server, two_key)
    added = server.cli("namespace-add", "team-old", "--region", "us-south",
                       "--output", "json").json()
    assert added["name"] == "team-old" and added["account_id"] == created["id"]
