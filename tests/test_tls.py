"""HTTPS end to end: `iam serve --tls-cert --tls-key` and a `docker-registry` with TLS, each
with a certificate from its own CA made by the test; the real docker CLI and skopeo log in
and push through https, verifying both.

Both listen on this machine's outward address, not on loopback: the docker CLI treats
127.0.0.0/8 as an insecure registry and skips certificate checks there (for the registry
and for the token realm alike), which would prove nothing.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.registry_env import (
    SKOPEO_BIN,
    Registry,
    build_image,
    docker_login,
    registry_config,
    run,
)
from tests.server import Server, make_server
from tests.tls_certs import Authority

pytestmark = [pytest.mark.registry, pytest.mark.server]

SERVICE = "registry.tls"
REGION = "us-south"


def outward_address() -> str:
    """The address this machine's default route leaves from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("10.255.255.255", 9))
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "the TLS test needs a non-loopback address"
    return address


@dataclass
class World:
    server: Server
    registry: Registry
    trust: Path  # a bundle of both CAs, what clients are given
    registry_ca: Path  # the registry's CA alone
    cert_dir: Path  # skopeo's --cert-dir: both CAs
    robot_key: str
    root: Path


def _client(world_trust: ssl.SSLContext, server: Server, owner_key: str) -> httpx.Client:
    r = httpx.post(f"{server.url}/identity/token", verify=world_trust, timeout=10, data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": owner_key})
    assert r.status_code == 200, r.text
    return httpx.Client(base_url=server.url, verify=world_trust, timeout=10,
                        headers={"Authorization": f"Bearer {r.json()['access_token']}"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("tls")
    address = outward_address()
    iam_ca, registry_ca = Authority(root / "iam-ca"), Authority(root / "registry-ca")
    iam_pair = iam_ca.issue("iam", addresses=(address, "127.0.0.1"))
    registry_pair = registry_ca.issue("registry", addresses=(address,))
    trust = root / "trust.pem"
    trust.write_bytes(iam_ca.ca_file.read_bytes() + registry_ca.ca_file.read_bytes())
    cert_dir = root / "certs.d"
    cert_dir.mkdir()
    for name, ca in (("iam-ca.crt", iam_ca), ("registry-ca.crt", registry_ca)):
        (cert_dir / name).write_bytes(ca.ca_file.read_bytes())
    context = ssl.create_default_context(cafile=str(trust))

    server = make_server(root / "iam", IAM_REGISTRIES=json.dumps(
        [{"service": SERVICE, "region": REGION}]), SSL_CERT_FILE=str(trust))
    server.host, server.tls = address, context
    server.env["IAM_PUBLIC_URL"] = server.url
    server.cli("init", "--apikey-file", str(root / "owner.key"))
    server.start("--host", address, "--tls-cert", str(iam_pair.cert),
                 "--tls-key", str(iam_pair.key))
    registry = Registry(root=root / "registry", service=SERVICE,
                        auth_section=registry_config(server, SERVICE, root / "registry-trust"),
                        storage=root / "storage", address=address,
                        tls=(registry_pair.cert, registry_pair.key), verify=context)
    try:
        registry.start()
        with _client(context, server, (root / "owner.key").read_text().strip()) as admin:
            assert admin.put("/v1/namespaces/team-a", params={"region": REGION}).status_code == 201
            robot = admin.post("/v1/serviceids", json={"name": "tls-robot"}).json()
            key = admin.post("/v1/apikeys", json={"name": "k", "iam_id": robot["iam_id"]})
            policy = admin.post("/v1/policies", json={
                "subject": {"iam_id": robot["iam_id"]}, "roles": ["Manager"],
                "resource": {"service": "container-registry", "region": REGION,
                             "resource_type": "namespace", "resource": "team-a"}})
            assert key.status_code == 201 and policy.status_code == 201, policy.text
        yield World(server, registry, trust, registry_ca.ca_file, cert_dir,
                    key.json()["apikey"], root)
    finally:
        registry.stop()
        server.stop()


def test_realm_printed_for_the_registry_is_https(world: World) -> None:
    assert f'realm: "https://{world.server.host}:{world.server.port}/token"' in \
        world.registry.auth_section


def test_docker_login_through_https_succeeds(world: World, tmp_path: Path) -> None:
    result = docker_login(tmp_path / "docker", world.registry.host, "iamapikey",
                          world.robot_key, SSL_CERT_FILE=str(world.trust))
    assert result.code == 0, result.output
    assert "Login Succeeded" in result.stdout


def test_docker_login_refuses_a_token_realm_it_cannot_verify(world: World,
                                                            tmp_path: Path) -> None:
    """Trusting only the registry's CA, docker stops at the token endpoint's certificate."""
    result = docker_login(tmp_path / "docker", world.registry.host, "iamapikey",
                          world.robot_key, SSL_CERT_FILE=str(world.registry_ca))
    assert result.code != 0
    assert f"{world.server.host}:{world.server.port}" in result.output
    assert "certificate signed by unknown authority" in result.output


def _skopeo(world: World, *args: str) -> tuple[int, str]:
    home = world.root / "skopeo"
    home.mkdir(exist_ok=True)
    policy = home / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home),
           "REGISTRY_AUTH_FILE": str(home / "auth.json")}
    done = run([SKOPEO_BIN, "--policy", str(policy), *args], env=env)
    return done.code, done.output


def test_skopeo_pushes_and_inspects_through_https(world: World, tmp_path: Path) -> None:
    build_image(tmp_path / "image")
    target = f"docker://{world.registry.host}/team-a/hello:1.0"
    code, output = _skopeo(world, "copy", "--retry-times", "0", "--dest-cert-dir",
                           str(world.cert_dir), "--dest-creds", f"iamapikey:{world.robot_key}",
                           f"oci:{tmp_path / 'image'}:latest", target)
    assert code == 0, output
    code, output = _skopeo(world, "inspect", "--raw", "--cert-dir", str(world.cert_dir),
                           "--creds", f"iamapikey:{world.robot_key}", target)
    assert code == 0 and '"schemaVersion": 2' in output, output


def test_plain_http_to_the_https_port_gets_no_token(world: World) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{world.server.host}:{world.server.port}/token",
                  params={"service": SERVICE}, auth=("iamapikey", world.robot_key), timeout=5)
