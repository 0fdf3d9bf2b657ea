"""Registries managed through the real CLI against two real `iam serve` replicas on one
PostgreSQL database, and a registry added that way trusted by the real `docker-registry`.

`iam init` is the only command that sees `IAM_REGISTRIES`: the servers and every other
command read the list from the database.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_ADMIN_URL
from tests.registry_env import Registry, Skopeo, build_image
from tests.server import Server, make_server

pytestmark = [pytest.mark.server]

SEEDED = '[{"service": "registry.us", "region": "us-south"}]'


@dataclass
class Replicas:
    a: Server
    b: Server
    owner_key: str
    root: Path
    admin: dict[str, str]

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The admin API of replica a, as the operator: set-up that is not under test."""
        r = httpx.request(method, f"{self.a.url}{path}", headers=self.admin, timeout=10, **kw)
        assert r.status_code < 300, r.text
        return r

    def add(self, service: str, region: str, **more: str) -> None:
        self.api("POST", "/v1/registries", json={"service": service, "region": region,
                                                 **more})


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    root = tmp_path_factory.mktemp("registries")
    name = f"iam_registries_{uuid.uuid4().hex[:8]}"
    pg = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with pg.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    data = root / "data"
    a, b = (make_server(root / side, IAM_DATA_DIR=str(data), IAM_DATABASE_URL=url)
            for side in ("a", "b"))
    try:
        env = a.env
        a.env = {**env, "IAM_REGISTRIES": SEEDED}  # for `iam init` alone
        a.cli("init", "--apikey-file", str(root / "owner.key"))
        a.env = env
        with ThreadPoolExecutor(2) as pool:  # side by side
            for started in [pool.submit(a.start), pool.submit(b.start)]:
                started.result()
        key = (root / "owner.key").read_text().strip()
        a.cli("login", "--apikey", key, "--endpoint", a.url)
        r = httpx.post(f"{a.url}/identity/token", timeout=10, data={
            "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key})
        r.raise_for_status()
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        yield Replicas(a, b, key, root, admin)
    finally:
        a.stop()
        b.stop()
        with pg.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        pg.dispose()


def token_status(server: Server, key: str, service: str) -> int:
    raw = base64.b64encode(f"iamapikey:{key}".encode()).decode()
    return httpx.get(f"{server.url}/token", params={"service": service},
                     headers={"Authorization": f"Basic {raw}"}, timeout=5).status_code


def test_registries_lists_what_init_seeded_without_any_setting(replicas: Replicas) -> None:
    assert "IAM_REGISTRIES" not in replicas.a.env
    table = replicas.a.cli("registries").stdout.splitlines()
    assert table[0].split() == ["SERVICE", "REGION", "URL", "TRUST", "TLS_VERIFY",
                                "DELETE_ENABLED"]
    assert ["registry.us", "us-south", "bundle", "True", "True"] in [  # no URL
        line.split() for line in table[1:]]


def test_registry_add_then_show_update_and_rm_as_json(replicas: Replicas) -> None:
    cli = replicas.a.cli
    added = cli("registry-add", "registry.cli", "--region", "cli-region", "--url",
                "https://cli.example:5000/", "--no-delete", "--trust", "jwks",
                "--output", "json").json()
    assert {k: added[k] for k in ("service", "region", "url", "delete_enabled", "trust",
                                  "tls_verify", "ca_file")} == {
        "service": "registry.cli", "region": "cli-region", "url": "https://cli.example:5000",
        "delete_enabled": False, "trust": "jwks", "tls_verify": True, "ca_file": None}
    shown = cli("registry", "registry.cli", "--output", "json").json()
    assert shown == added
    updated = cli("registry-update", "registry.cli", "--no-tls-verify", "--trust", "bundle",
                  "--output", "json").json()
    assert (updated["tls_verify"], updated["trust"], updated["url"]) == (
        False, "bundle", "https://cli.example:5000")
    assert cli("registry-rm", "registry.cli", "-f", "--output", "json").json() == {
        "service": "registry.cli", "removed": True}
    assert httpx.get(f"{replicas.a.url}/v1/registries/registry.cli", headers=replicas.admin,
                     timeout=5).status_code == 404


def test_registry_rm_of_the_last_registry_of_a_region_with_namespaces_fails_clearly(
        replicas: Replicas) -> None:
    replicas.add("registry.ns", "ns-region")
    replicas.api("PUT", "/v1/namespaces/team-ns", params={"region": "ns-region"})
    refused = replicas.a.cli("registry-rm", "registry.ns", "-f", check=False)
    assert refused.code == 1
    assert "registry registry.ns is the last of region ns-region, which has 1 namespace(s)" \
        in refused.stderr
    assert "(conflict, HTTP 409)" in refused.stderr
    assert replicas.api("GET", "/v1/registries/registry.ns").json()["region"] == "ns-region"


def test_registry_update_without_a_change_is_refused_by_the_cli(replicas: Replicas) -> None:
    result = replicas.a.cli("registry-update", "registry.us", check=False)
    assert result.code == 1
    assert "nothing to change" in result.stderr


def test_a_registry_added_on_one_replica_gets_tokens_from_the_other_within_a_second(
        replicas: Replicas) -> None:
    b, key = replicas.b, replicas.owner_key
    assert token_status(b, key, "registry.replica") == 400
    replicas.add("registry.replica", "us-south")
    added = time.monotonic()
    while token_status(b, key, "registry.replica") != 200:
        assert time.monotonic() - added < 1.0, "replica b did not serve it within 1 s"
        time.sleep(0.02)
    replicas.api("DELETE", "/v1/registries/registry.replica")
    removed = time.monotonic()
    while token_status(b, key, "registry.replica") != 400:
        assert time.monotonic() - removed < 1.0, "replica b still served it after 1 s"
        time.sleep(0.02)


def test_registry_config_of_a_jwks_registry_prints_jwks_from_the_database(
        replicas: Replicas) -> None:
    replicas.add("registry.v3", "us-south", trust="jwks")
    out = replicas.root / "trust-v3"
    jwks = replicas.a.cli("registry-config", "--service", "registry.v3", "--out", str(out),
                          "--output", "json").json()
    assert jwks["trust"] == "jwks"
    assert f'jwks: "{(out / "iam-token-jwks.json").resolve()}"' in jwks["auth_section"]
    assert "rootcertbundle" not in jwks["auth_section"]


def test_a_registry_added_by_the_cli_is_trusted_by_the_real_registry_in_bundle_mode(
        replicas: Replicas) -> None:
    a, root = replicas.a, replicas.root
    replicas.add("registry.real", "real-region")
    section = a.cli("registry-config", "--service", "registry.real", "--realm",
                    f"{a.url}/token", "--out", str(root / "real" / "trust")).stdout
    trust = (root / "real" / "trust" / "iam-token-bundle.pem").resolve()
    assert f'rootcertbundle: "{trust}"' in section and "jwks:" not in section
    registry = Registry(root=root / "real", service="registry.real", auth_section=section,
                        storage=root / "real" / "storage")
    registry.start()
    try:
        replicas.api("PUT", "/v1/namespaces/team-real", params={"region": "real-region"})
        digest = build_image(root / "image")
        skopeo = Skopeo(root / "skopeo")
        ref = f"docker://{registry.host}/team-real/app:1.0"
        pushed = skopeo.copy(f"oci:{root / 'image'}:latest", ref, dest_key=replicas.owner_key)
        assert pushed.code == 0, pushed.output
        inspected = skopeo.inspect(ref, replicas.owner_key)
        assert inspected.code == 0, inspected.output
        assert f"sha256:{hashlib.sha256(inspected.stdout.encode()).hexdigest()}" == digest
    finally:
        registry.stop()
