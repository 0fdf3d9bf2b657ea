"""Namespaces: IBM's naming rule, one holder per region across accounts, listing by access."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.test_policies_api import Headers, grant, namespace, robot, second_account


@pytest.mark.regions("", "us-south")
def test_create_list_and_delete_a_namespace(client: TestClient, admin: Headers) -> None:
    r = namespace(client, admin, "team-a")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "team-a" and r.json()["region"] == ""
    assert namespace(client, admin, "team-a").status_code == 200  # already ours: idempotent
    assert namespace(client, admin, "team-a", "us-south").status_code == 201
    names = [(n["name"], n["region"]) for n in client.get("/v1/namespaces",
                                                         headers=admin).json()["data"]]
    assert names == [("team-a", ""), ("team-a", "us-south")]
    r = client.get("/v1/namespaces", params={"region": "us-south"}, headers=admin)
    assert r.json()["count"] == 1
    r = client.delete("/v1/namespaces/team-a", params={"region": ""}, headers=admin)
    assert r.status_code == 200, r.text  # registry.local has no URL: the name stays ours
    assert (r.json()["name"], r.json()["state"]) == ("team-a", "reserved")
    again = client.delete("/v1/namespaces/team-a", params={"region": ""}, headers=admin)
    assert again.status_code == 404
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 1


@pytest.mark.regions("us-south")
def test_create_without_region_takes_the_only_registrys_region(client: TestClient,
                                                                admin: Headers) -> None:
    r = client.put("/v1/namespaces/team-a", headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["region"] == "us-south"
    gone = client.delete("/v1/namespaces/team-a", headers=admin)
    assert gone.status_code == 200, gone.text
    assert gone.json()["region"] == "us-south"  # found without naming the region


@pytest.mark.regions("us-south", "eu-de")
def test_create_without_region_is_refused_when_registries_serve_several(
        client: TestClient, admin: Headers) -> None:
    r = client.put("/v1/namespaces/team-a", headers=admin)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["target"] == "region"
    assert "give the namespace's region" in error["message"]
    assert "'us-south'" in error["message"] and "'eu-de'" in error["message"]
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 0


@pytest.mark.regions("us-south", "eu-de")
def test_create_in_a_region_no_registry_serves_is_refused(client: TestClient,
                                                           admin: Headers) -> None:
    for region in ("mars", ""):
        r = namespace(client, admin, "team-a", region)
        assert r.status_code == 400, r.text
        error = r.json()["errors"][0]
        assert error["target"] == "region"
        assert f"no registry serves the region {region!r}" in error["message"]
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 0


def test_malformed_names_are_refused(client: TestClient, admin: Headers) -> None:
    for bad in ("abc", "a" * 31, "Team-a", "-team", "_team", "te..am", "te.am", "tëam",
                "team\u0430", "\uff54\uff45\uff41\uff4d", "team a", "team%2Fb"):
        r = namespace(client, admin, bad)
        assert r.status_code in (400, 404), (bad, r.text)
        if r.status_code == 400:
            assert "4 to 30 characters" in r.json()["errors"][0]["message"]
    assert client.put("/v1/namespaces/te/am", headers=admin).status_code == 404
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 0
    for good in ("abcd", "a" * 30, "0team", "team_a-1"):
        assert namespace(client, admin, good).status_code == 201, good


@pytest.mark.regions("", "eu-de")
def test_a_name_held_by_another_account_is_a_conflict_that_names_no_account(
        client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "shared")
    b = second_account(client, admin)
    r = namespace(client, b, "shared")
    assert r.status_code == 409
    body = r.text
    me = client.get("/v1/namespaces", headers=admin).json()["data"][0]["account_id"]
    assert me not in body and "already taken" in body
    assert namespace(client, b, "shared", "eu-de").status_code == 201  # other region: free
    assert client.delete("/v1/namespaces/shared", params={"region": ""},
                         headers=b).status_code == 404


def test_creating_needs_manager(client: TestClient, admin: Headers) -> None:
    reader, headers = robot(client, admin)
    grant(client, admin, reader, ["Reader", "Writer"])
    r = namespace(client, headers, "team-a")
    assert r.status_code == 403
    assert "container-registry.namespace.create" in r.json()["errors"][0]["message"]
    manager, headers = robot(client, admin, "manager")
    grant(client, admin, manager, ["Manager"])
    assert namespace(client, headers, "team-a").status_code == 201


def test_listing_shows_only_namespaces_the_caller_holds_an_action_on(
        client: TestClient, admin: Headers) -> None:
    for name in ("team-a", "team-b", "team-c"):
        namespace(client, admin, name)
    iam_id, headers = robot(client, admin)
    assert client.get("/v1/namespaces", headers=headers).json() == {"data": [], "count": 0}
    grant(client, admin, iam_id, ["Reader"], resource_type="namespace", resource="team-a")
    grant(client, admin, iam_id, ["Writer"], resource_type="namespace", resource="team-c",
          repository="web-*")
    names = [n["name"] for n in client.get("/v1/namespaces", headers=headers).json()["data"]]
    assert names == ["team-a", "team-c"]
