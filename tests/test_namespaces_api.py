"""Namespaces: IBM's naming rule, one holder per region across accounts, listing by access."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from iam.cli import app
from iam.cli import client as cli_client
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
    assert client.get("/v1/namespaces", headers=headers).json() == {
        "data": [], "count": 0, "limit": 100, "next_pagestart": None}
    grant(client, admin, iam_id, ["Reader"], resource_type="namespace", resource="team-a")
    grant(client, admin, iam_id, ["Writer"], resource_type="namespace", resource="team-c",
          repository="web-*")
    names = [n["name"] for n in client.get("/v1/namespaces", headers=headers).json()["data"]]
    assert names == ["team-a", "team-c"]


def _pages(client: TestClient, headers: Headers, **params: Any) -> list[dict[str, Any]]:
    """Every page of the list, following next_pagestart."""
    pages, start = [], None
    while True:
        r = client.get("/v1/namespaces", params={**params, **({"pagestart": start} if start
                                                              else {})}, headers=headers)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        start = r.json()["next_pagestart"]
        if start is None:
            return pages


@pytest.mark.regions("", "us-south")
def test_listing_pages_in_region_and_name_order(client: TestClient, admin: Headers) -> None:
    """`limit` and `pagestart` as every list of the API: `count` is the whole list's, a
    full last page says it is last, and the pages hold each namespace once."""
    for name, region in (("team-c", ""), ("team-a", "us-south"), ("team-b", ""),
                         ("team-a", ""), ("team-d", "us-south")):
        assert namespace(client, admin, name, region).status_code == 201
    pages = _pages(client, admin, limit=2, counts="false")
    assert [p["count"] for p in pages] == [5, 5, 5]
    assert [p["limit"] for p in pages] == [2, 2, 2]
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    listed = [(n["region"], n["name"]) for p in pages for n in p["data"]]
    assert listed == [("", "team-a"), ("", "team-b"), ("", "team-c"),
                      ("us-south", "team-a"), ("us-south", "team-d")]
    full_last = _pages(client, admin, limit=5, counts="false")
    assert len(full_last) == 1 and full_last[0]["next_pagestart"] is None
    unpaged = client.get("/v1/namespaces", params={"counts": "false"}, headers=admin).json()
    assert [(n["region"], n["name"]) for n in unpaged["data"]] == listed
    in_region = _pages(client, admin, limit=1, region="us-south", counts="false")
    assert [n["name"] for p in in_region for n in p["data"]] == ["team-a", "team-d"]


def test_paging_counts_only_the_namespaces_the_caller_may_see(client: TestClient,
                                                              admin: Headers) -> None:
    for name in ("team-a", "team-b", "team-c", "team-d"):
        namespace(client, admin, name)
    iam_id, headers = robot(client, admin)
    for name in ("team-b", "team-d"):
        grant(client, admin, iam_id, ["Reader"], resource_type="namespace", resource=name)
    pages = _pages(client, headers, limit=1, counts="false")
    assert [(p["count"], [n["name"] for n in p["data"]]) for p in pages] == [
        (2, ["team-b"]), (2, ["team-d"])]


@pytest.mark.parametrize("bad", [{"limit": 0}, {"limit": 1001}, {"pagestart": "a\x01"}])
def test_listing_refuses_a_page_size_or_cursor_out_of_range(client: TestClient, admin: Headers,
                                                            bad: dict[str, Any]) -> None:
    r = client.get("/v1/namespaces", params=bad, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == next(iter(bad))


def test_namespace_list_command_walks_every_page(client: TestClient, admin: Headers,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """`iam namespace-list` still lists every namespace: it follows next_pagestart."""
    for name in ("team-a", "team-b", "team-c"):
        namespace(client, admin, name)
    monkeypatch.setenv("IAM_CLI_CONFIG", str(tmp_path / "cli.json"))
    cli_client.save_login({"endpoint": "http://testserver", "refresh_token": "unused",
                           "access_token": admin["Authorization"].split(" ", 1)[1],
                           "expiration": time.time() + 3600})
    monkeypatch.setattr(cli_client, "PAGE", 2)
    asked: list[dict[str, Any]] = []

    def request(method: str, url: str, **kw: Any) -> httpx.Response:
        asked.append(kw["params"])
        return client.request(method, url, params=kw["params"], headers=kw["headers"],
                              json=kw["json"])

    monkeypatch.setattr(httpx, "request", request)
    result = CliRunner().invoke(app, ["namespace-list", "--no-counts", "--output", "json"])
    assert result.exit_code == 0, result.output
    assert [n["name"] for n in json.loads(result.stdout)] == ["team-a", "team-b", "team-c"]
    assert [(p["limit"], "pagestart" in p) for p in asked] == [(2, False), (2, True)]
