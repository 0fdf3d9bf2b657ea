"""`/v1/registries` on one service per backend for the module: reads (the CA file only for
the operator), every refused write (who may not, bad values, wrong types, unknown
registries, the 409 rules), and changes that each touch only registries, regions and
namespaces of their own names, so that the tests stay independent."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from iam.api.app import create_app
from iam.config import Settings
from iam.registry.trust_config import write_trust_files
from iam.tokens.signing import load_keys
from tests.conftest import BACKENDS, module_service
from tests.test_policies_api import Headers, grant, namespace, robot, second_account
from tests.test_registries_api import (
    NEW,
    REGISTRIES,
    audit_events,
    error_of,
    patch,
    read,
    services,
    token_status,
)


@dataclass
class World:
    """The operator (and its API key), another account's owner, a Reader+Administrator of
    the operator's account; registry.ap (created here) has a CA file."""

    client: TestClient
    settings: Settings
    operator: Headers
    operator_key: str
    owner_b: Headers
    reader: Headers
    ca_file: str
    junk_file: str  # readable, but no certificate

    def add(self, service: str, region: str = "", **more: Any) -> dict[str, Any]:
        r = self.client.post(REGISTRIES, json={"service": service, "region": region, **more},
                             headers=self.operator)
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with module_service(request, tmp_path_factory) as service:
        client, operator = service.client, service.admin
        ca = str(next(service.settings.keys_dir.glob("*.crt")).resolve())
        junk = service.settings.data_dir.resolve() / "junk.pem"
        junk.write_text("not a certificate\n")
        r = client.post(REGISTRIES, json={**NEW, "ca_file": ca}, headers=operator)
        assert r.status_code == 201, r.text
        reader_id, reader = robot(client, operator, "reader")
        assert grant(client, operator, reader_id, ["Reader", "Administrator"]).status_code == 201
        yield World(client, service.settings, operator, service.owner.apikey,
                    second_account(client, operator), reader, ca, str(junk))


# --- who may do what ----------------------------------------------------------------------------

def test_operator_adds_a_registry_and_the_token_endpoint_serves_it_at_once(
        world: World) -> None:
    client, key = world.client, world.operator_key
    assert token_status(client, key, "registry.added") == 400
    body = world.add("registry.added", "added-region", url="https://added.example",
                     ca_file=world.ca_file, trust="jwks", delete_enabled=False)
    assert {k: body[k] for k in ("service", "region", "url", "ca_file", "trust",
                                 "delete_enabled", "tls_verify")} == {
        "service": "registry.added", "region": "added-region", "url": "https://added.example",
        "ca_file": world.ca_file, "trust": "jwks", "delete_enabled": False, "tls_verify": True}
    assert token_status(client, key, "registry.added") == 200
    assert "registry.added" in services(client, world.operator)


def test_another_accounts_owner_and_a_reader_read_registries_without_the_ca_file(
        world: World) -> None:
    client = world.client
    for headers in (world.owner_b, world.reader):
        listed = client.get(REGISTRIES, headers=headers).json()["data"]
        assert {"registry.ap", "registry.local"} <= {x["service"] for x in listed}
        assert all("ca_file" not in x for x in listed)
        one = read(client, headers, "registry.ap")
        assert "ca_file" not in one and one["url"] == NEW["url"]
    assert read(client, world.operator, "registry.ap")["ca_file"] == world.ca_file


def test_only_the_system_operator_changes_registries(world: World) -> None:
    """For the owner of another account and for a Reader+Administrator of the operator's
    own account, every write is 403 and changes nothing."""
    client = world.client
    before = client.get(REGISTRIES, headers=world.operator).json()
    tag = read(client, world.operator, "registry.ap")["entity_tag"]
    for who in (world.owner_b, world.reader):
        for r in (client.post(REGISTRIES, json={**NEW, "service": "registry.x"}, headers=who),
                  client.patch(f"{REGISTRIES}/registry.ap", json={"url": "https://evil.example"},
                               headers={**who, "If-Match": tag}),
                  client.delete(f"{REGISTRIES}/registry.ap", headers=who)):
            assert r.status_code == 403, r.text
            assert error_of(r) == {"code": "forbidden", "message": "only the system operator "
                                   "may add, change or remove registries"}
    assert client.get(REGISTRIES, headers=world.operator).json() == before


def test_reading_registries_needs_authentication(world: World) -> None:
    r = world.client.get(REGISTRIES)
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"


def test_an_unknown_registry_is_404(world: World) -> None:
    client, admin = world.client, world.operator
    for r in (client.get(f"{REGISTRIES}/nowhere", headers=admin),
              client.delete(f"{REGISTRIES}/nowhere", headers=admin),
              client.patch(f"{REGISTRIES}/nowhere", json={"url": ""},
                           headers={**admin, "If-Match": "x"})):
        assert r.status_code == 404, r.text
        assert error_of(r) == {"code": "not_found", "message": "registry nowhere not found",
                               "target": "registry"}


# --- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("change", "target", "words"), [
    ({"service": "bad name"}, "service", "letters, digits"),
    ({"service": "-lead"}, "service", "starting with a letter or digit"),
    ({"region": "US South"}, "region", "lowercase"),
    ({"url": "ftp://registry.example"}, "url", "http:// or https://"),
    ({"url": "https://"}, "url", "host[:port]"),
    ({"url": "https://registry.example:99999"}, "url", "host[:port]"),
    ({"url": "https://user:pw@registry.example"}, "url", "must not carry credentials"),
    ({"url": "https://registry.example/v2/"}, "url", "no path"),
    ({"ca_file": "relative/ca.pem"}, "ca_file", "absolute path"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "not a readable file"),
    ({"ca_file": "JUNK"}, "ca_file", "PEM CA certificates"),
])
def test_create_refuses_a_bad_value_naming_it(world: World, change: dict[str, str],
                                              target: str, words: str) -> None:
    if change.get("ca_file") == "JUNK":
        change = {"ca_file": world.junk_file}
    body = {**NEW, "service": "registry.bad", **change}
    r = world.client.post(REGISTRIES, json=body, headers=world.operator)
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert (error["code"], error["target"]) == ("invalid_input", target)
    assert words in error["message"]
    assert body["service"] not in services(world.client, world.operator)


@pytest.mark.parametrize("change", [{"trust": "x5c"}, {"tls_verify": "yes"},
                                    {"service": 5}, {"colour": "blue"}])
def test_create_refuses_a_wrong_type_or_field_with_422(world: World,
                                                       change: dict[str, Any]) -> None:
    r = world.client.post(REGISTRIES, json={**NEW, **change}, headers=world.operator)
    assert r.status_code == 422, r.text
    assert next(iter(change)) in error_of(r)["message"]


def test_update_refuses_null_for_a_field_that_needs_a_value(world: World) -> None:
    r = patch(world.client, world.operator, "registry.ap", url=None)
    assert r.status_code == 400, r.text
    assert error_of(r) == {"code": "invalid_input", "message": "url cannot be null",
                           "target": "url"}


def test_update_needs_if_match_and_refuses_a_stale_one(world: World) -> None:
    client, admin = world.client, world.operator
    world.add("registry.tagged")
    path = f"{REGISTRIES}/registry.tagged"
    r = client.patch(path, json={"url": ""}, headers=admin)
    assert r.status_code == 428, r.text
    stale = read(client, admin, "registry.tagged")["entity_tag"]
    assert patch(client, admin, "registry.tagged", url="https://t.example").status_code == 200
    r = client.patch(path, json={"url": ""}, headers={**admin, "If-Match": stale})
    assert r.status_code == 412, r.text
    assert read(client, admin, "registry.tagged")["url"] == "https://t.example"


def test_update_changes_only_what_it_names_and_is_audited(world: World) -> None:
    client, admin = world.client, world.operator
    world.add("registry.audited", "audited", url="http://127.0.0.1:5000")
    r = patch(client, admin, "registry.audited", url="https://a.example/",
              ca_file=world.ca_file, tls_verify=False)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["url"], body["ca_file"], body["tls_verify"], body["region"]) == (
        "https://a.example", world.ca_file, False, "audited")
    assert patch(client, admin, "registry.audited", ca_file=None).json()["ca_file"] is None
    deadline = time.monotonic() + 10
    while True:  # the trail is written in batches
        events = [e for e in audit_events(client, admin, "admin.update_registry", expect=1)
                  if e["target"] == f"{REGISTRIES}/registry.audited"]
        if len(events) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(events) == 2
    first = json.loads(events[-1]["detail"])
    assert (first["before"]["url"], first["after"]["url"]) == ("http://127.0.0.1:5000",
                                                               "https://a.example")


# --- the 409 rules --------------------------------------------------------------------------------

def test_adding_a_registry_that_exists_is_409(world: World) -> None:
    r = world.client.post(REGISTRIES, json={"service": "registry.ap"}, headers=world.operator)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == ("registry registry.ap exists already; change it with "
                                      "`iam registry-update`")


def test_removing_the_last_registry_of_a_region_with_namespaces_is_409(world: World) -> None:
    client, admin = world.client, world.operator
    world.add("registry.lone", "lone-region")
    assert namespace(client, world.owner_b, "team-lone", "lone-region").status_code == 201
    r = client.delete(f"{REGISTRIES}/registry.lone", headers=admin)
    assert r.status_code == 409, r.text
    assert error_of(r)["message"] == (
        "registry registry.lone is the last of region lone-region, which has 1 namespace(s); "
        "remove them (iam namespace-rm) or add another registry in that region first")
    world.add("registry.lone2", "lone-region")
    assert client.delete(f"{REGISTRIES}/registry.lone", headers=admin).status_code == 204


def test_changing_the_region_of_a_registry_whose_region_has_namespaces_is_409(
        world: World) -> None:
    client, admin = world.client, world.operator
    world.add("registry.fixed", "fixed-region")
    world.add("registry.movable", "movable-region")
    assert namespace(client, admin, "team-fixed", "fixed-region").status_code == 201
    r = patch(client, admin, "registry.fixed", region="elsewhere")
    assert r.status_code == 409, r.text
    error = error_of(r)
    assert error["target"] == "region"
    assert "serves region fixed-region, which has 1 namespace(s)" in error["message"]
    assert read(client, admin, "registry.fixed")["region"] == "fixed-region"
    assert patch(client, admin, "registry.movable", region="elsewhere").status_code == 200


# --- removal, replicas ----------------------------------------------------------------------------

def test_a_removed_registry_gets_no_tokens_and_can_be_added_again(world: World) -> None:
    client, admin, key = world.client, world.operator, world.operator_key
    world.add("registry.gone", "gone-region")
    assert client.delete(f"{REGISTRIES}/registry.gone", headers=admin).status_code == 204
    r = client.get("/token", params={"service": "registry.gone"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["message"].startswith(
        "unknown service 'registry.gone'; this token service issues tokens for: ")
    assert client.get(f"{REGISTRIES}/registry.gone", headers=admin).status_code == 404
    world.add("registry.gone", "back-region")
    assert token_status(client, key, "registry.gone") == 200
    assert read(client, admin, "registry.gone")["region"] == "back-region"


def test_a_replica_serves_a_new_registry_within_a_second(world: World) -> None:
    client, admin, key = world.client, world.operator, world.operator_key
    with TestClient(create_app(world.settings)) as replica:
        assert token_status(replica, key, "registry.replica") == 400
        world.add("registry.replica", "us-south")
        added = time.monotonic()
        while token_status(replica, key, "registry.replica") != 200:
            assert time.monotonic() - added < 1.0, "the replica did not reload within 1 s"
            time.sleep(0.02)
        assert client.delete(f"{REGISTRIES}/registry.replica", headers=admin).status_code == 204
        removed = time.monotonic()
        while token_status(replica, key, "registry.replica") != 400:
            assert time.monotonic() - removed < 1.0, "the replica did not reload within 1 s"
            time.sleep(0.02)


# --- trust modes ----------------------------------------------------------------------------------

def test_a_jwks_registry_gets_tokens_its_jwks_file_verifies(world: World,
                                                            tmp_path: Path) -> None:
    client, key, settings = world.client, world.operator_key, world.settings
    world.add("registry.v3", trust="jwks")
    raw = base64.b64encode(f"iamapikey:{key}".encode()).decode()
    r = client.get("/token", params={"service": "registry.v3",
                                     "scope": "repository:ns01/app:pull"},
                   headers={"Authorization": f"Basic {raw}"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    header = jwt.get_unverified_header(token)
    assert "x5c" not in header
    _, jwks_path = write_trust_files(load_keys(settings.keys_dir), tmp_path)
    jwks = json.loads(jwks_path.read_text())
    assert all("x5c" not in k for k in jwks["keys"])
    found = jwt.PyJWKSet(jwks["keys"])[header["kid"]]  # the kid is the file's: the thumbprint
    claims = jwt.decode(token, found.key, algorithms=[header["alg"]], audience="registry.v3",
                        issuer=settings.issuer)
    assert claims["access"] == [{"type": "repository", "name": "ns01/app", "actions": []}]
    bundle = client.get("/token", params={"service": "registry.local"},
                        headers={"Authorization": f"Basic {raw}"}).json()["token"]
    bundle_header = jwt.get_unverified_header(bundle)
    assert bundle_header["kid"] == load_keys(settings.keys_dir)[0].kid != header["kid"]
    assert len(bundle_header["x5c"]) == 1
