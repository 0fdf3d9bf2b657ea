"""`/v1/registries` read by anyone authenticated (the CA file only by the operator), and
every refused write: who may not, bad values, wrong types, unknown registries. One service
per backend for the module: nothing here changes it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import BACKENDS, module_service
from tests.test_policies_api import Headers, grant, robot, second_account
from tests.test_registries_api import NEW, REGISTRIES, error_of, patch, read, services


@dataclass
class World:
    """Built once per backend for the tests that only read or are refused: the operator,
    another account's owner, a Reader of the operator's account; registry.ap has a CA."""

    client: TestClient
    operator: Headers
    owner_b: Headers
    reader: Headers
    ca_file: str
    junk_file: str  # readable, but no certificate


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
        yield World(client, operator, second_account(client, operator), reader, ca, str(junk))


def test_another_accounts_owner_and_a_reader_read_registries_without_the_ca_file(
        world: World) -> None:
    client = world.client
    for headers in (world.owner_b, world.reader):
        listed = client.get(REGISTRIES, headers=headers).json()["data"]
        assert [x["service"] for x in listed] == ["registry.ap", "registry.local"]
        assert all("ca_file" not in x for x in listed)
        one = read(client, headers, "registry.ap")
        assert "ca_file" not in one and one["url"] == NEW["url"]
    assert read(client, world.operator, "registry.ap")["ca_file"] == world.ca_file


def test_only_the_system_operator_changes_registries(world: World) -> None:
    """Who may do what: for the owner of another account and for a Reader+Administrator of
    the operator's own account, every write is 403 and changes nothing."""
    client = world.client
    before = client.get(REGISTRIES, headers=world.operator).json()
    tag = before["data"][0]["entity_tag"]
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
    r = world.client.post(REGISTRIES, json={**NEW, "service": "registry.new", **change},
                          headers=world.operator)
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert (error["code"], error["target"]) == ("invalid_input", target)
    assert words in error["message"]
    assert services(world.client, world.operator) == ["registry.ap", "registry.local"]


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
