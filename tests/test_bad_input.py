"""Bad input, table-driven over the admin endpoints: always a JSON error, never a 500,
and nothing written.

One service per backend serves the whole module: every case is refused and each test checks,
by a snapshot before and after, that it changed nothing (a fresh service per case cost ~90%
of the module's time).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import BACKENDS, module_service

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Endpoint:
    label: str
    method: str
    path: str  # may name {sid}, {key}, {user}
    body: dict[str, Any]
    field: str = "name"  # the string field the cases corrupt

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format(**ids)


ENDPOINTS = [
    Endpoint("create service ID", "POST", "/v1/serviceids", {"name": "ok", "description": "d"}),
    Endpoint("update service ID", "PUT", "/v1/serviceids/{sid}", {"name": "ok"}),
    Endpoint("create API key", "POST", "/v1/apikeys", {"name": "ok", "iam_id": "{sid_iam}"}),
    Endpoint("update API key", "PUT", "/v1/apikeys/{key}", {"name": "ok"}),
    Endpoint("create user", "POST", "/v1/users", {"name": "ok", "password": PASSWORD}),
    Endpoint("update user", "PUT", "/v1/users/{user}", {"name": "ok"}),
    Endpoint("set password", "PUT", "/v1/users/{user}/password", {"password": PASSWORD},
             field="password"),
    Endpoint("create account", "POST", "/v1/accounts", {"name": "ok"}),
    Endpoint("describe service ID", "POST", "/v1/serviceids", {"name": "ok", "description": ""},
             field="description"),
]


@dataclass(frozen=True)
class Case:
    label: str
    value: Any
    status: int
    code: str
    fields: tuple[str, ...] = ("name", "password", "description")


CASES = [
    Case("empty", "", 400, "invalid_input", ("name", "password")),
    Case("blank", "   ", 400, "invalid_input", ("name",)),
    Case("257 characters", "n" * 257, 400, "invalid_input", ("name", "password")),
    Case("4097 characters", "n" * 4097, 422, "invalid_request"),
    Case("NUL", "bad\x00name", 400, "invalid_input"),
    Case("BEL", "bad\x07name", 400, "invalid_input"),
    Case("RTL override", "bad\u202ename", 400, "invalid_input", ("name", "description")),
    Case("zero-width space", "bad\u200bname", 400, "invalid_input", ("name", "description")),
    Case("number", 42, 422, "invalid_request"),
    Case("boolean", True, 422, "invalid_request"),
    Case("list", ["x"], 422, "invalid_request"),
    Case("object", {"x": 1}, 422, "invalid_request"),
]


def _ids(endpoint: Endpoint) -> str:
    return endpoint.label


@dataclass
class World:
    client: TestClient
    admin: dict[str, str]
    ids: dict[str, str]


def _targets(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    """A service ID, a key and a user to aim the PUTs at."""
    sid = client.post("/v1/serviceids", json={"name": "target"}, headers=admin).json()
    key = client.post("/v1/apikeys", json={"name": "target", "iam_id": sid["iam_id"]},
                      headers=admin).json()
    user = client.post("/v1/users", json={"name": "target", "password": PASSWORD},
                       headers=admin).json()
    return {"sid": sid["id"], "sid_iam": sid["iam_id"], "key": key["id"],
            "user": user["iam_id"]}


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with module_service(request, tmp_path_factory) as service:
        yield World(service.client, service.admin, _targets(service.client, service.admin))


@pytest.fixture
def client(world: World) -> TestClient:
    return world.client


@pytest.fixture
def admin(world: World) -> dict[str, str]:
    return world.admin


@pytest.fixture
def ids(world: World) -> dict[str, str]:
    """The targets with their current entity tags (a valid update moves them on)."""
    return {**world.ids, **_fresh_tags(world.client, world.admin, world.ids)}


def headers_for(endpoint: Endpoint, admin: dict[str, str], ids: dict[str, str]) -> dict[str, str]:
    tag = {"/v1/serviceids/{sid}": "sid_tag", "/v1/apikeys/{key}": "key_tag",
           "/v1/users/{user}": "user_tag"}.get(endpoint.path)
    return {**admin, "If-Match": ids[tag]} if tag else dict(admin)


def body_for(endpoint: Endpoint, ids: dict[str, str], **changes: Any) -> dict[str, Any]:
    body = {k: (v.format(**ids) if isinstance(v, str) else v) for k, v in endpoint.body.items()}
    body.update(changes)
    return body


def snapshot(client: TestClient, admin: dict[str, str]) -> list[Any]:
    """Everything the owner can list: a failed request must leave it unchanged.

    Key activity (`authn_count`, `last_authn`) is left out: the owner's own logins move it.
    """
    pages = []
    for path in ("/v1/serviceids", "/v1/apikeys", "/v1/users"):
        r = client.get(path, headers=admin)
        assert r.status_code == 200, r.text
        page = r.json()
        for row in page["data"]:
            row.pop("authn_count", None)
            row.pop("last_authn", None)
        pages.append(page)
    return pages


def assert_error(r: Any, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body["errors"], list) and body["errors"]
    assert isinstance(body["errors"][0]["message"], str) and body["errors"][0]["message"]
    if code is not None:
        assert body["errors"][0]["code"] == code


def send(client: TestClient, endpoint: Endpoint, ids: dict[str, str], headers: dict[str, str],
         **kwargs: Any) -> Any:
    return client.request(endpoint.method, endpoint.url(ids), headers=headers, **kwargs)


def cases() -> list[Any]:
    params = []
    for endpoint in ENDPOINTS:
        for case in CASES:
            if endpoint.field in case.fields:
                params.append(pytest.param(endpoint, case, id=f"{endpoint.label}-{case.label}"))
    return params


def test_endpoint_table_is_valid_as_given(client: TestClient, admin: dict[str, str],
                                          ids: dict[str, str]) -> None:
    """The baseline bodies succeed, so each failure below is caused by its one bad value."""
    for n, endpoint in enumerate(ENDPOINTS):
        value = f"fine-{n}" if endpoint.field == "name" else endpoint.body[endpoint.field]
        r = send(client, endpoint, ids, headers_for(endpoint, admin, ids),
                 json=body_for(endpoint, ids, **{endpoint.field: value}))
        assert r.status_code in (200, 201, 204), f"{endpoint.label}: {r.text}"
        if endpoint.method == "PUT":  # the tags moved on; fetch them again
            ids.update({k: v for k, v in _fresh_tags(client, admin, ids).items()})


def _fresh_tags(client: TestClient, admin: dict[str, str], ids: dict[str, str]) -> dict[str, str]:
    return {
        "sid_tag": client.get(f"/v1/serviceids/{ids['sid']}", headers=admin).json()["entity_tag"],
        "key_tag": client.get(f"/v1/apikeys/{ids['key']}", headers=admin).json()["entity_tag"],
        "user_tag": client.get(f"/v1/users/{ids['user']}", headers=admin).json()["entity_tag"],
    }


@pytest.mark.parametrize(("endpoint", "case"), cases())
def test_bad_value_is_refused_and_nothing_written(client: TestClient, admin: dict[str, str],
                                                  ids: dict[str, str], endpoint: Endpoint,
                                                  case: Case) -> None:
    before = snapshot(client, admin)
    r = send(client, endpoint, ids, headers_for(endpoint, admin, ids),
             json=body_for(endpoint, ids, **{endpoint.field: case.value}))
    assert_error(r, case.status, case.code)
    assert snapshot(client, admin) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_unknown_field_is_422(client: TestClient, admin: dict[str, str], ids: dict[str, str],
                              endpoint: Endpoint) -> None:
    before = snapshot(client, admin)
    r = send(client, endpoint, ids, headers_for(endpoint, admin, ids),
             json=body_for(endpoint, ids, is_admin=True))
    assert_error(r, 422, "invalid_request")
    assert "is_admin" in r.json()["errors"][0]["message"]
    assert snapshot(client, admin) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
@pytest.mark.parametrize("raw", [b"{", b'{"name": "x",}', b"not json", b"null", b"[]",
                                 b'"name"', b"{}"],
                         ids=["open brace", "trailing comma", "text", "null", "array", "string",
                              "empty object"])
def test_malformed_json_is_422(client: TestClient, admin: dict[str, str], ids: dict[str, str],
                               endpoint: Endpoint, raw: bytes) -> None:
    before = snapshot(client, admin)
    r = send(client, endpoint, ids, {**headers_for(endpoint, admin, ids),
                                     "Content-Type": "application/json"}, content=raw)
    if raw == b"{}" and endpoint.method == "PUT" and endpoint.field == "name":
        # every field of an update is optional: an empty update is valid
        assert r.status_code == 200, r.text
        return
    assert_error(r, 422, "invalid_request")
    assert snapshot(client, admin) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
@pytest.mark.parametrize("raw", [b'{"name": "\xff\xfe"}', b"\xff\xfe\x00{", b"\xc3\x28"],
                         ids=["latin-1 in string", "bad BOM", "bad continuation"])
def test_non_utf8_body_is_a_client_error(client: TestClient, admin: dict[str, str],
                                         ids: dict[str, str], endpoint: Endpoint,
                                         raw: bytes) -> None:
    """JSON must be UTF-8; an undecodable body is a 400 (422 is for decodable JSON)."""
    before = snapshot(client, admin)
    r = send(client, endpoint, ids, {**headers_for(endpoint, admin, ids),
                                     "Content-Type": "application/json"}, content=raw)
    assert r.status_code in (400, 422), r.text
    assert_error(r, r.status_code, "invalid_request")
    assert snapshot(client, admin) == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids)
def test_body_over_64_kib_is_413(client: TestClient, admin: dict[str, str], ids: dict[str, str],
                                 endpoint: Endpoint) -> None:
    before = snapshot(client, admin)
    raw = json.dumps(body_for(endpoint, ids, description="d" * (64 * 1024))).encode()
    r = send(client, endpoint, ids, {**headers_for(endpoint, admin, ids),
                                     "Content-Type": "application/json"}, content=raw)
    assert_error(r, 413, "payload_too_large")
    assert snapshot(client, admin) == before


def test_chunked_body_over_64_kib_is_413(client: TestClient, admin: dict[str, str]) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""
    before = snapshot(client, admin)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "big", "description": "'
        for _ in range(80):
            yield b"d" * 1024
        yield b'"}'

    r = client.post("/v1/serviceids", content=chunks(),
                    headers={**admin, "Content-Type": "application/json"})
    assert_error(r, 413, "payload_too_large")
    assert snapshot(client, admin) == before


def test_identity_token_body_over_64_kib_is_413(client: TestClient) -> None:
    r = client.post("/identity/token", content=b"apikey=" + b"x" * (65 * 1024),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 413, "payload_too_large")


ID_PATHS = [
    ("GET", "/v1/serviceids/{}"), ("PUT", "/v1/serviceids/{}"), ("DELETE", "/v1/serviceids/{}"),
    ("POST", "/v1/serviceids/{}/lock"), ("GET", "/v1/apikeys/{}"), ("PUT", "/v1/apikeys/{}"),
    ("DELETE", "/v1/apikeys/{}"), ("POST", "/v1/apikeys/{}/lock"),
    ("POST", "/v1/apikeys/{}/disable"), ("GET", "/v1/users/{}"), ("PUT", "/v1/users/{}"),
    ("DELETE", "/v1/users/{}"), ("PUT", "/v1/users/{}/password"),
]
BAD_IDS = ["ServiceId-nope", "ApiKey-00000000-0000-0000-0000-000000000000",
           "iam-User-nope", "x" * 300, "%00", "%E2%80%AE", "%FF", "'%20OR%201=1--"]


@pytest.mark.parametrize(("method", "path"), ID_PATHS, ids=[f"{m} {p}" for m, p in ID_PATHS])
@pytest.mark.parametrize("bad_id", BAD_IDS)
def test_unknown_id_is_404(client: TestClient, admin: dict[str, str], method: str, path: str,
                           bad_id: str) -> None:
    before = snapshot(client, admin)
    body = {"password": PASSWORD} if path.endswith("password") else {"name": "x"}
    r = client.request(method, path.format(bad_id), headers={**admin, "If-Match": "abc"},
                       json=body if method == "PUT" else None)
    assert_error(r, 404, "not_found")
    assert snapshot(client, admin) == before


@pytest.mark.parametrize("path", ["/v1/serviceids", "/v1/apikeys", "/v1/users"])
@pytest.mark.parametrize("pagestart", ["%00", "x" * 129, "%FF"])
def test_bad_pagestart_is_never_500(client: TestClient, admin: dict[str, str], path: str,
                                    pagestart: str) -> None:
    r = client.get(f"{path}?pagestart={pagestart}", headers=admin)
    assert r.status_code in (200, 400, 422), r.text
    assert "errors" in r.json() or "data" in r.json()


@pytest.mark.parametrize("query", ["name=%00", "name=" + "x" * 5000, "limit=1e3"])
def test_bad_list_filter_is_never_500(client: TestClient, admin: dict[str, str],
                                      query: str) -> None:
    r = client.get(f"/v1/serviceids?{query}", headers=admin)
    assert r.status_code in (200, 400, 422), r.text


def test_bad_apikey_owner_filter_is_never_500(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/apikeys?iam_id=iam-ServiceId-%00", headers=admin)
    assert r.status_code in (200, 400, 404, 422), r.text


def test_unknown_route_is_json_404(client: TestClient, admin: dict[str, str]) -> None:
    r = client.get("/v1/nothing-here", headers=admin)
    assert_error(r, 404, "not_found")


def test_wrong_method_is_json_405(client: TestClient, admin: dict[str, str]) -> None:
    r = client.patch("/v1/serviceids", headers=admin)
    assert_error(r, 405, "method_not_allowed")
