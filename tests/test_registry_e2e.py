"""The real parts: `iam serve`, two `docker-registry serve` of two regions, skopeo, docker.

One environment for the module (starting it is the slow part); each test creates its own
service IDs and repositories, so the tests do not depend on one another.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import jwt
import pytest

from tests.registry_env import (
    DOCKER_BIN,
    REGISTRY_BIN,
    SKOPEO_BIN,
    Environment,
    Registry,
    Robot,
    Skopeo,
    build_image,
    create_namespace,
    create_robot,
    docker_login,
    layout_blobs,
    registry_config,
    start_environment,
)

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(not all(os.path.exists(b) for b in (REGISTRY_BIN, SKOPEO_BIN, DOCKER_BIN)),
                       reason="docker-registry, skopeo or docker missing: "
                              "run scripts/ensure-system.sh (make test does)"),
]

US, EU = "registry.us", "registry.eu"
DENIED_MARKERS = ("denied", "unauthorized", "authentication required")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    environment = start_environment(tmp_path_factory.mktemp("registry-e2e"))
    try:
        for region in ("us-south", "eu-de"):
            for namespace in ("ns01", "ns02"):
                create_namespace(environment, namespace, region)
        yield environment
    finally:
        environment.stop()


@pytest.fixture(scope="module")
def skopeo(env: Environment) -> Skopeo:
    return Skopeo(env.root / "skopeo")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    layout = tmp_path / "image"
    build_image(layout)
    return layout


def host(env: Environment, service: str = US) -> str:
    return env.registries[service].host


def ref(env: Environment, repository: str, service: str = US) -> str:
    return f"docker://{host(env, service)}/{repository}"


def refused(output: str) -> bool:
    return any(marker in output.lower() for marker in DENIED_MARKERS)


def token_kid(env: Environment, robot: Robot) -> str:
    r = httpx.get(f"{env.server.url}/token", params={"service": US}, timeout=10,
                  auth=("iamapikey", robot.apikey))
    assert r.status_code == 200, r.text
    return str(jwt.get_unverified_header(r.json()["token"])["kid"])


# --- docker login ---------------------------------------------------------------------------


def test_docker_login_with_service_id_key_succeeds(env: Environment, tmp_path: Path) -> None:
    robot = create_robot(env, "login-ok", [("Reader", "ns01", "us-south")])
    result = docker_login(tmp_path / "docker", host(env), "iamapikey", robot.apikey)
    assert result.code == 0, result.output
    assert "Login Succeeded" in result.stdout


def test_docker_login_with_wrong_key_prints_unauthorized(env: Environment,
                                                         tmp_path: Path) -> None:
    robot = create_robot(env, "login-wrong")
    result = docker_login(tmp_path / "docker", host(env), "iamapikey", robot.apikey[:-2] + "xx")
    assert result.code != 0
    # the seed's message: the 401 body carries a `detail` (see routes/registry.py)
    assert "unauthorized: authentication required" in result.output


def test_docker_login_fails_once_the_key_is_disabled(env: Environment, tmp_path: Path) -> None:
    robot = create_robot(env, "login-disabled")
    assert docker_login(tmp_path / "d1", host(env), "iamapikey", robot.apikey).code == 0
    assert env.api("POST", f"/v1/apikeys/{robot.apikey_id}/disable").status_code == 200
    result = docker_login(tmp_path / "d2", host(env), "iamapikey", robot.apikey)
    assert result.code != 0 and "unauthorized" in result.output


def test_docker_login_fails_once_the_key_is_deleted(env: Environment, tmp_path: Path) -> None:
    robot = create_robot(env, "login-deleted")
    assert docker_login(tmp_path / "d1", host(env), "iamapikey", robot.apikey).code == 0
    assert env.api("DELETE", f"/v1/apikeys/{robot.apikey_id}").status_code == 204
    result = docker_login(tmp_path / "d2", host(env), "iamapikey", robot.apikey)
    assert result.code != 0 and "unauthorized" in result.output


# --- push, pull, delete ---------------------------------------------------------------------


def test_manager_pushes_inspects_pulls_back_and_deletes(env: Environment, skopeo: Skopeo,
                                                        image: Path, tmp_path: Path) -> None:
    robot = create_robot(env, "manager", [("Manager", "ns01", "us-south")])
    target = ref(env, "ns01/manager-app:v1")
    pushed = skopeo.copy(f"oci:{image}:latest", target, dest_key=robot.apikey)
    assert pushed.code == 0, pushed.output
    inspected = skopeo.inspect(target, robot.apikey)
    assert inspected.code == 0 and '"schemaVersion": 2' in inspected.stdout, inspected.output
    back = tmp_path / "back"
    pulled = skopeo.copy(target, f"oci:{back}:latest", src_key=robot.apikey)
    assert pulled.code == 0, pulled.output
    assert layout_blobs(back) == layout_blobs(image)
    deleted = skopeo.delete(target, robot.apikey)
    assert deleted.code == 0, deleted.output
    assert skopeo.inspect(target, robot.apikey).code != 0


def test_reader_pulls_but_cannot_push_or_delete(env: Environment, skopeo: Skopeo,
                                                image: Path, tmp_path: Path) -> None:
    target = ref(env, "ns01/reader-app:v1")
    assert skopeo.copy(f"oci:{image}:latest", target, dest_key=env.owner_key).code == 0
    reader = create_robot(env, "reader", [("Reader", "ns01", "us-south")])
    pulled = skopeo.copy(target, f"oci:{tmp_path / 'back'}:latest", src_key=reader.apikey)
    assert pulled.code == 0, pulled.output
    pushed = skopeo.copy(f"oci:{image}:latest", ref(env, "ns01/reader-app:v2"),
                         dest_key=reader.apikey)
    assert pushed.code != 0 and refused(pushed.output), pushed.output
    deleted = skopeo.delete(target, reader.apikey)
    assert deleted.code != 0 and refused(deleted.output), deleted.output
    assert skopeo.inspect(target, env.owner_key).code == 0


def test_key_for_one_namespace_cannot_reach_another(env: Environment, skopeo: Skopeo,
                                                    image: Path, tmp_path: Path) -> None:
    other = ref(env, "ns02/secret:v1")
    assert skopeo.copy(f"oci:{image}:latest", other, dest_key=env.owner_key).code == 0
    robot = create_robot(env, "ns01-only", [("Manager", "ns01", "us-south")])
    pulled = skopeo.copy(other, f"oci:{tmp_path / 'back'}:latest", src_key=robot.apikey)
    assert pulled.code != 0 and refused(pulled.output), pulled.output
    pushed = skopeo.copy(f"oci:{image}:latest", ref(env, "ns02/mine:v1"), dest_key=robot.apikey)
    assert pushed.code != 0 and refused(pushed.output), pushed.output


# --- copies -----------------------------------------------------------------------------------


def test_copy_between_repositories_of_one_registry(env: Environment, skopeo: Skopeo,
                                                   image: Path, tmp_path: Path) -> None:
    robot = create_robot(env, "copier", [("Manager", "ns01", "us-south")])
    source, target = ref(env, "ns01/source:v1"), ref(env, "ns01/target:v1")
    assert skopeo.copy(f"oci:{image}:latest", source, dest_key=robot.apikey).code == 0
    copied = skopeo.copy(source, target, src_key=robot.apikey, dest_key=robot.apikey)
    assert copied.code == 0, copied.output
    back = tmp_path / "back"
    assert skopeo.copy(target, f"oci:{back}:latest", src_key=robot.apikey).code == 0
    assert layout_blobs(back) == layout_blobs(image)


def test_copy_between_regions_needs_a_policy_in_the_second_region(
        env: Environment, skopeo: Skopeo, image: Path) -> None:
    source = ref(env, "ns01/travel:v1")
    assert skopeo.copy(f"oci:{image}:latest", source, dest_key=env.owner_key).code == 0
    us_only = create_robot(env, "us-only", [("Manager", "ns01", "us-south")])
    denied = skopeo.copy(source, ref(env, "ns01/travel:v1", EU), src_key=us_only.apikey,
                         dest_key=us_only.apikey)
    assert denied.code != 0 and refused(denied.output), denied.output
    both = create_robot(env, "both-regions", [("Manager", "ns01", "us-south"),
                                              ("Manager", "ns01", "eu-de")])
    copied = skopeo.copy(source, ref(env, "ns01/travel:v1", EU), src_key=both.apikey,
                         dest_key=both.apikey)
    assert copied.code == 0, copied.output


def test_token_for_one_registry_is_refused_by_another(env: Environment) -> None:
    robot = create_robot(env, "audience", [("Reader", "ns01", "us-south")])

    def base_status(service: str, registry: str) -> int:
        r = httpx.get(f"{env.server.url}/token", params={"service": service}, timeout=10,
                      auth=("iamapikey", robot.apikey))
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        return httpx.get(f"{env.registries[registry].url}/v2/", headers=headers,
                         timeout=10).status_code

    assert base_status(EU, EU) == 200
    assert base_status(US, EU) == 401


# --- key rotation -----------------------------------------------------------------------------


def _rolling_restart(env: Environment, service: str) -> None:
    """What an operator does after `iam keys rotate`: new bundle, new instance, old one off."""
    old = env.registries[service]
    section = registry_config(env.server, service, old.root / "trust")
    new = Registry(root=old.root, service=service, auth_section=section, storage=old.storage)
    new.start()
    env.registries[service] = new
    old.stop()


@pytest.mark.serial  # the pending phase must fit in the 12 s before the new key activates
def test_pulls_keep_working_through_a_key_rotation(env: Environment, skopeo: Skopeo,
                                                   image: Path, tmp_path: Path) -> None:
    robot = create_robot(env, "rotation", [("Manager", "ns01", "us-south")])
    assert skopeo.copy(f"oci:{image}:latest", ref(env, "ns01/rotate:v1"),
                       dest_key=robot.apikey).code == 0

    def pull(step: str) -> None:
        out = tmp_path / step
        result = skopeo.copy(ref(env, "ns01/rotate:v1"), f"oci:{out}:latest",
                             src_key=robot.apikey)
        assert result.code == 0, f"{step}: {result.output}"
        shutil.rmtree(out)

    old_kid = token_kid(env, robot)
    pull("before")
    rotated = env.server.cli("keys", "rotate", "--activate-after", "12", "-o", "json").json()
    activate_at = datetime.fromisoformat(rotated["activate_at"])
    pull("pending-old-registry")  # a registry that has not learnt the new key yet
    for service in (US, EU):
        _rolling_restart(env, service)
    pull("pending-new-registry")
    assert token_kid(env, robot) == old_kid
    deadline = time.monotonic() + 5  # the server re-reads its key directory every second
    published: set[str] = set()
    while not {old_kid, rotated["kid"]} <= published and time.monotonic() < deadline:
        jwks = httpx.get(f"{env.server.url}/.well-known/jwks.json", timeout=10).json()
        published = {k["kid"] for k in jwks["keys"]}
        time.sleep(0.2)
    assert {old_kid, rotated["kid"]} <= published
    while datetime.now(activate_at.tzinfo) < activate_at:
        time.sleep(0.2)
    deadline = time.monotonic() + 10  # the server re-reads its key directory every second
    while token_kid(env, robot) != rotated["kid"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert token_kid(env, robot) == rotated["kid"]
    pull("after")
