"""Input bounds: query values the database cannot hold are 400s naming the parameter (both
backends), scope input is bounded before it is parsed, and anonymous token requests cannot
grow a worker's memory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from iam.registry import scopes
from tests.server import Server, make_server

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
BEYOND_INT64 = str(2**63)
MAX_ID = 2**31 - 1  # audit ids are INTEGER: 32 bits on PostgreSQL


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    target: str


LISTS = ["/v1/serviceids", "/v1/users", "/v1/apikeys", "/v1/groups",
         "/v1/policies", "/v1/audit-events"]
BAD_QUERIES = [
    Case("before_id far beyond 2^63-1", "/v1/audit-events?before_id=9999999999999999999999999",
         "before_id"),
    Case("before_id = 2^63", f"/v1/audit-events?before_id={BEYOND_INT64}", "before_id"),
    Case("before_id = 2^31", f"/v1/audit-events?before_id={MAX_ID + 1}", "before_id"),
    Case("before_id = 0", "/v1/audit-events?before_id=0", "before_id"),
    Case("before_id not a number", "/v1/audit-events?before_id=ten", "before_id"),
    Case("since unparsable", "/v1/audit-events?since=yesterday", "since"),
    Case("since before year 1 in UTC", "/v1/audit-events?since=0001-01-01T00:00:00%2B01:00",
         "since"),
    Case("until after year 9999 in UTC", "/v1/audit-events?until=9999-12-31T23:59:59-14:00",
         "until"),
    Case("until month 13", "/v1/audit-events?until=2024-13-01T00:00:00Z", "until"),
    Case("pagestart with NUL", "/v1/serviceids?pagestart=%00", "pagestart"),
    *[Case(f"{path} limit {value}", f"{path}?limit={value}", "limit")
      for path in LISTS for value in ("0", "1001", "-1", BEYOND_INT64, "9" * 30, "1.5")],
]


@pytest.mark.parametrize("case", BAD_QUERIES, ids=lambda c: c.label)
def test_bad_query_value_is_400_naming_it(client: TestClient, admin: dict[str, str],
                                          case: Case) -> None:
    r = client.get(case.path, headers=admin)
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "invalid_input"
    assert error["target"] == case.target
    assert case.target in error["message"]


def test_audit_before_id_out_of_range_is_400(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/audit-events?before_id=9999999999999999999999999", headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["target"] == "before_id"
    assert r.json()["status_code"] == 400


def test_audit_largest_before_id_is_accepted(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get(f"/v1/audit-events?before_id={MAX_ID}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["limit"] == 100


def _events(client: TestClient, headers: dict[str, str], **params: str) -> list[dict[str, str]]:
    r = client.get("/v1/audit-events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    data: list[dict[str, str]] = r.json()["data"]
    return data


def test_audit_naive_since_is_taken_as_utc(client: TestClient, admin: dict[str, str]) -> None:
    deadline = time.monotonic() + 5
    while not _events(client, admin) and time.monotonic() < deadline:  # the 0.5 s flush
        time.sleep(0.1)
    now = datetime.now(UTC).replace(tzinfo=None)
    before = (now - timedelta(minutes=5)).isoformat()
    after = (now + timedelta(minutes=5)).isoformat()
    seen = _events(client, admin, since=before)
    assert seen, "the owner's key exchange is in the trail"
    assert seen == _events(client, admin, since=before + "Z")
    assert _events(client, admin, since=after) == []
    assert _events(client, admin, until=before) == []


def test_audit_full_last_page_has_no_next(client: TestClient, admin: dict[str, str]) -> None:
    deadline = time.monotonic() + 5
    while not _events(client, admin) and time.monotonic() < deadline:
        time.sleep(0.1)
    total = len(_events(client, admin, limit="1000"))
    r = client.get(f"/v1/audit-events?limit={total}", headers=admin)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == total
    assert r.json()["next_before_id"] is None


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "99999-01-01T00:00:00Z"])
def test_api_key_expiry_out_of_range_is_422(client: TestClient, admin: dict[str, str],
                                            expires_at: str) -> None:
    keys = client.get("/v1/apikeys", headers=admin).json()["count"]
    r = client.post("/v1/apikeys", json={"name": "k", "expires_at": expires_at}, headers=admin)
    assert r.status_code == 422, r.text
    assert "expires_at" in r.json()["errors"][0]["message"]
    assert client.get("/v1/apikeys", headers=admin).json()["count"] == keys


def test_full_last_page_has_no_next_pagestart(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("a1", "a2"):
        assert client.post("/v1/serviceids", json={"name": name}, headers=admin).status_code == 201
    r = client.get("/v1/serviceids?limit=3", headers=admin)  # the owner and the two
    assert r.status_code == 200, r.text
    assert (len(r.json()["data"]), r.json()["count"]) == (3, 3)
    assert r.json()["next_pagestart"] is None


# -- scope bounds, at the token endpoint --------------------------------------------------

SCOPE = "repository:team-a/app:pull"
TOO_MUCH = [
    ("scope parameters", [f"repository:team-a/app{i}:pull" for i in range(33)],
     "more than 32 scope parameters"),
    ("one long value", ["repository:team-a/" + "a" * 4100 + ":pull"], "longer than 4096"),
    ("total text", ["repository:team-a/app:pull " * 140] * 3, "8192 characters in all"),
    ("scopes in one value", [" ".join(f"repository:team-a/a{i}:pull" for i in range(33))],
     "more than 32 scopes"),
    ("actions of a scope", ["repository:team-a/app:" + ",".join(f"a{i}" for i in range(17))],
     "more than 16 actions"),
    ("actions merged", ["repository:team-a/app:" + ",".join(f"a{i}" for i in range(9)),
                        "repository:team-a/app:" + ",".join(f"b{i}" for i in range(9))],
     "more than 16 actions"),
]


@pytest.mark.parametrize(("label", "values", "message"), TOO_MUCH, ids=[t[0] for t in TOO_MUCH])
def test_get_token_over_a_scope_bound_is_400(client: TestClient, label: str,
                                             values: list[str], message: str) -> None:
    r = client.get("/token", params=[("service", "registry.local"),
                                     *[("scope", v) for v in values]])
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "INVALID_REQUEST"
    assert message in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(("label", "values", "message"), TOO_MUCH, ids=[t[0] for t in TOO_MUCH])
def test_post_token_over_a_scope_bound_is_400(client: TestClient, label: str,
                                              values: list[str], message: str) -> None:
    r = client.post("/token", data={"grant_type": "password", "service": "registry.local",
                                    "username": "iamapikey", "password": "riam_x",
                                    "scope": values})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == "INVALID_REQUEST"
    assert message in r.json()["errors"][0]["message"]


def test_get_token_with_too_many_parameters_is_400(client: TestClient) -> None:
    r = client.get("/token?" + "&".join(f"x{i}=1" for i in range(100)))
    assert r.status_code == 400, r.text
    assert "query parameters" in r.json()["errors"][0]["message"]


def test_post_token_with_too_many_fields_is_400(client: TestClient) -> None:
    r = client.post("/token", content="&" * 5000,
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400, r.text
    assert "form fields" in r.json()["errors"][0]["message"]


def test_usual_scopes_within_bounds_get_a_token(client: TestClient) -> None:
    r = client.get("/token", params=[("service", "registry.local"), ("scope", SCOPE),
                                     ("scope", "repository:team-a/base:pull,push")])
    assert r.status_code == 200, r.text
    assert r.json()["token"]


def test_scope_memo_keeps_only_small_requests_and_a_bounded_number() -> None:
    for i in range(scopes.MEMO_ENTRIES + 500):
        scopes.parse_scopes([f"repository:team-a/app{i}:pull"])
    assert len(scopes._memo) <= scopes.MEMO_ENTRIES
    big = ["repository:team-a/" + "b" * 230 + ":pull", "repository:team-a/c:pull"]
    scopes.parse_scopes(big)
    assert tuple(big) not in scopes._memo
    assert all(sum(map(len, key)) <= scopes.MEMO_MAX_TEXT for key in scopes._memo)


# -- memory, against the running server ---------------------------------------------------

MEMORY_BOUND_MIB = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = make_server(tmp_path_factory.mktemp("input-bounds"))
    srv.cli("init", "--apikey-file", str(srv.root / "owner.key"))
    srv.start()
    yield srv
    srv.stop()


def _rss_kib(pid: int) -> int:
    """VmRSS of the process and its children (the uvicorn worker, if `iam serve` forks)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _maximal_scopes(n: int) -> list[str]:
    """32 scope values, distinct per request, as long as the bounds allow (8 KiB in all)."""
    return [f"repository:team-a/r{n}x{i}" + "a" * 200 + f":pull,push,delete,x{i}"
            for i in range(scopes.MAX_SCOPE_VALUES)]


def _spray(server: Server, first: int, count: int) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for n in range(first, first + count):
            values = _maximal_scopes(n)
            assert sum(map(len, values)) <= scopes.MAX_SCOPE_TEXT
            r = http.get("/token", params=[("service", "registry.local"),
                                           *[("scope", v) for v in values]])
            assert r.status_code == 200, r.text  # anonymous: a token granting nothing
            r = http.post("/token", data={"grant_type": "refresh_token",
                                          "service": "registry.local", "scope": values})
            assert r.status_code == 400, r.text  # no credential at all


@pytest.mark.server
def test_anonymous_large_scopes_do_not_grow_memory(server: Server) -> None:
    assert server.process is not None
    _spray(server, 0, 200)  # warm-up: allocator arenas, imports, connection pools
    before = _rss_kib(server.process.pid)
    _spray(server, 1000, 1000)
    grown_mib = (_rss_kib(server.process.pid) - before) / 1024
    assert grown_mib <= MEMORY_BOUND_MIB, f"worker grew {grown_mib:.1f} MiB"
