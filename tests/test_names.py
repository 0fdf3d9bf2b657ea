"""Names that cannot be impersonated: users, service IDs and access groups are unique in their
account by their NFKC case-folded key, namespaces in their region; the display name is kept
as typed; invisible characters are refused; login and the CLI find a name by its key."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from iam.names import name_key
from tests.conftest import PG_ADMIN_URL, bearer
from tests.server import make_server
from tests.test_policies_api import Headers, namespace, second_account

PASSWORD = "correct horse battery"

#: (first name, a look-alike that must be refused beside it)
LOOK_ALIKES = [
    ("rtalice", "\uff52\uff54\uff41\uff4c\uff49\uff43\uff45"),  # full-width letters
    ("rtalice", "RTAlice"),                                     # mixed case
    ("file-robot", "\ufb01le-robot"),                           # the ligature U+FB01
    ("caf\u00e9", "cafe\u0301"),                                # precomposed vs combining
    ("stra\u00dfe", "STRASSE"),                                 # case folding, not lower()
    ("ci robot", "ci\u00a0robot"),                              # no-break space
    ("ci robot", "ci   robot"),                                 # runs of white space
]
#: Characters refused anywhere in a name: zero-width, bidi controls, other format characters
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202d", "\u2066",
             "\u00ad", "\x00", "\x1b"]
#: kind of name: (collection path, extra body fields)
KINDS: dict[str, tuple[str, dict[str, str]]] = {
    "user": ("/v1/users", {"password": PASSWORD}),
    "service ID": ("/v1/serviceids", {}),
    "access group": ("/v1/groups", {}),
}


def create(client: TestClient, headers: Headers, kind: str, name: str) -> httpx.Response:
    path, extra = KINDS[kind]
    return client.post(path, json={"name": name, **extra}, headers=headers)


def names_of(client: TestClient, headers: Headers, kind: str) -> list[str]:
    r = client.get(KINDS[kind][0], headers=headers)
    assert r.status_code == 200, r.text
    return sorted(item["name"] for item in r.json()["data"])


def login(client: TestClient, username: str) -> httpx.Response:
    return client.post("/identity/token", data={"grant_type": "password",
                                                "username": username, "password": PASSWORD})


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize(("first", "look_alike"), LOOK_ALIKES)
def test_look_alike_name_is_refused_with_409(client: TestClient, admin: Headers, kind: str,
                                             first: str, look_alike: str) -> None:
    assert create(client, admin, kind, first).status_code == 201
    r = create(client, admin, kind, look_alike)
    assert r.status_code == 409, r.text
    error = r.json()["errors"][0]
    assert error["code"] == "conflict" and error["target"] == "name"
    assert "already exists in this account" in error["message"]
    before = [n for n in names_of(client, admin, kind) if name_key(n) == name_key(first)]
    assert before == [first]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("char", INVISIBLE)
def test_name_with_invisible_or_control_character_is_refused_with_400(
        client: TestClient, admin: Headers, kind: str, char: str) -> None:
    r = create(client, admin, kind, f"ci{char}robot")
    assert r.status_code == 400, r.text
    error = r.json()["errors"][0]
    assert error["target"] == "name"
    assert "control or invisible formatting characters" in error["message"]
    assert not [n for n in names_of(client, admin, kind) if n.startswith("ci")]


@pytest.mark.parametrize("kind", list(KINDS))
def test_display_name_is_kept_as_typed(client: TestClient, admin: Headers, kind: str) -> None:
    typed = "\uff23\uff49-R\u00f6bot \ufb01"
    r = create(client, admin, kind, typed)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == typed
    assert typed in names_of(client, admin, kind)


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_name_in_another_account_is_allowed(client: TestClient, admin: Headers,
                                                 kind: str) -> None:
    assert create(client, admin, kind, "builder").status_code == 201
    other = second_account(client, admin)
    r = create(client, other, kind, "BUILDER")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "BUILDER"


def test_renaming_a_service_id_to_a_look_alike_is_refused_with_409(
        client: TestClient, admin: Headers) -> None:
    create(client, admin, "service ID", "ci-robot")
    other = create(client, admin, "service ID", "deployer").json()
    r = client.put(f"/v1/serviceids/{other['id']}", json={"name": "CI-Robot"},
                   headers={**admin, "If-Match": other["entity_tag"]})
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["target"] == "name"
    assert names_of(client, admin, "service ID") == ["ci-robot", "default owner", "deployer"]


def test_renaming_a_user_to_a_look_alike_is_refused_with_409(client: TestClient,
                                                            admin: Headers) -> None:
    create(client, admin, "user", "rtalice")
    bob = create(client, admin, "user", "bob").json()
    r = client.put(f"/v1/users/{bob['iam_id']}", json={"name": "\uff52\uff54alice"},
                   headers={**admin, "If-Match": bob["entity_tag"]})
    assert r.status_code == 409, r.text
    assert names_of(client, admin, "user") == ["bob", "rtalice"]


def test_renaming_to_another_form_of_its_own_name_is_allowed(client: TestClient,
                                                            admin: Headers) -> None:
    sid = create(client, admin, "service ID", "ci-robot").json()
    r = client.put(f"/v1/serviceids/{sid['id']}", json={"name": "CI-Robot"},
                   headers={**admin, "If-Match": sid["entity_tag"]})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "CI-Robot"


def test_user_name_with_full_width_at_sign_is_refused_with_400(client: TestClient,
                                                              admin: Headers) -> None:
    r = create(client, admin, "user", "alice\uff20acct")
    assert r.status_code == 400, r.text
    assert "'@'" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("variant", ["RTAlice", "\uff52\uff54\uff41\uff4c\uff49\uff43\uff45",
                                     " rtalice "])
def test_login_by_a_variant_of_the_name_logs_in_as_the_user(client: TestClient,
                                                            admin: Headers,
                                                            variant: str) -> None:
    user = create(client, admin, "user", "rtalice").json()
    r = login(client, variant)
    assert r.status_code == 200, r.text
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user["iam_id"]
    wrong = login(client, "rtal1ce")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_service_id_lookup_by_name_uses_the_key(client: TestClient, admin: Headers) -> None:
    sid = create(client, admin, "service ID", "ci-robot").json()
    r = client.get("/v1/serviceids", params={"name": "\uff23\uff29-robot"}, headers=admin)
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()["data"]] == [sid["id"]]


def test_namespace_in_full_width_or_upper_case_is_refused_with_a_hint(
        client: TestClient, admin: Headers) -> None:
    for typed in ("TEAM-A", "\uff54\uff45\uff41\uff4d-a"):
        r = namespace(client, admin, typed)
        assert r.status_code == 400, r.text
        assert "did you mean team-a?" in r.json()["errors"][0]["message"]
    assert client.get("/v1/namespaces", headers=admin).json()["count"] == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """"" for the server's own SQLite file, or a throw-away PostgreSQL database."""
    if request.param == "sqlite":
        yield ""
        return
    name = f"iam_names_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.server
def test_concurrent_creates_of_look_alike_names_let_exactly_one_succeed(
        tmp_path: Path, database_url: str) -> None:
    """Against the running server (2 workers): the unique index decides, not a Python check."""
    server = make_server(tmp_path, **({"IAM_DATABASE_URL": database_url} if database_url
                                      else {}))
    server.cli("init", "--apikey-file", str(tmp_path / "owner.key"))
    server.start("--workers", "2")
    try:
        key = (tmp_path / "owner.key").read_text().strip()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            headers = bearer(http, key)  # type: ignore[arg-type]
            variants = ["deployer", "Deployer", "DEPLOYER", "\uff44eployer", "deploy\uff45r",
                        "dEployer", "deplOyer", "deployeR"]
            statuses: list[int] = []
            barrier = threading.Barrier(len(variants))

            def post(name: str) -> None:
                with httpx.Client(base_url=server.url, timeout=30) as own:
                    barrier.wait()
                    statuses.append(own.post("/v1/serviceids", json={"name": name},
                                             headers=headers).status_code)

            threads = [threading.Thread(target=post, args=(v,)) for v in variants]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(statuses) == [201] + [409] * (len(variants) - 1)
            listed: list[dict[str, Any]] = http.get("/v1/serviceids",
                                                    headers=headers).json()["data"]
            assert len([s for s in listed if name_key(s["name"]) == "deployer"]) == 1
    finally:
        server.stop()


@pytest.mark.server
def test_cli_resolves_a_variant_of_a_name_to_the_identity(tmp_path: Path) -> None:
    """`iam service-policy-create CI-Robot` finds `ci-robot`, as the server compares names."""
    server = make_server(tmp_path)
    server.cli("init", "--apikey-file", str(tmp_path / "owner.key"))
    server.start()
    try:
        server.cli("login", "--apikey", f"@{tmp_path / 'owner.key'}", "--endpoint", server.url)
        sid = server.cli("service-id-create", "ci-robot", "--output", "json").json()
        dup = server.cli("service-id-create", "\uff43\uff49-robot", check=False)
        assert dup.code == 1 and "HTTP 409" in dup.stderr
        user = server.cli("user-create", "rtalice", "--password-stdin", "--output", "json",
                          stdin=f"{PASSWORD}\n").json()
        group = server.cli("access-group-create", "Builders", "--output", "json").json()
        for command, ref, subject in (
                ("service-policy-create", "CI-Robot", {"iam_id": sid["iam_id"]}),
                ("user-policy-create", "RTAlice", {"iam_id": user["iam_id"]}),
                ("access-group-policy-create", "\uff42uilders", {"access_group_id": group["id"]})):
            made = server.cli(command, ref, "--roles", "Reader", "--service-name",
                              "container-registry", "--output", "json").json()
            assert {k: v for k, v in made["subject"].items() if v} == subject
        policies = server.cli("service-policies", "CI-ROBOT", "--output", "json").json()
        assert [p["subject"]["iam_id"] for p in policies] == [sid["iam_id"]]
    finally:
        server.stop()
