"""Registry content through the product, against the real parts: `iam serve`, two
`docker-registry serve` of two regions (delete enabled, every request in their access log)
and images pushed by skopeo, a multi-platform index among them.

One environment for the module (starting it and pushing are the slow part). The images the
reading tests look at are pushed once and never changed; every test that changes content
pushes its own repository first, so the tests do not depend on one another.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from iam.config import load_settings
from iam.registry.content.removal import remove_namespace
from iam.runtime import Runtime
from tests.registry_env import (
    REGISTRY_BIN,
    SKOPEO_BIN,
    Environment,
    Robot,
    Skopeo,
    build_image,
    build_index,
    create_namespace,
    create_robot,
    start_environment,
)

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(not all(os.path.exists(b) for b in (REGISTRY_BIN, SKOPEO_BIN)),
                       reason="docker-registry or skopeo missing: run scripts/ensure-system.sh"),
]

US, EU = "registry.us", "registry.eu"
ENV = ["PATH=/usr/bin", "DB_PASSWORD=hunter2", "API_URL=https://u:p4ss@db.example/x",
       "MODE=prod"]


@dataclass
class World:
    env: Environment
    skopeo: Skopeo
    root: Path
    layouts: dict[str, Path]
    digests: dict[str, str]
    reader: Robot
    writer: Robot
    manager: Robot
    other_owner_key: str

    def host(self, service: str = US) -> str:
        return self.env.registries[service].host

    def image(self, name: str, service: str = US) -> str:
        return f"{self.host(service)}/{name}"

    def push(self, layout: str, name: str, *, service: str = US, key: str | None = None
             ) -> None:
        """skopeo copy of a local layout (every platform of an index) to `name`."""
        source = self.layouts[layout]
        r = self.skopeo.copy(f"oci:{source}:latest", f"docker://{self.image(name, service)}",
                             dest_key=key or self.env.owner_key, all_platforms=True)
        assert r.code == 0, r.output

    def as_key(self, key: str) -> dict[str, str]:
        r = httpx.post(f"{self.env.server.url}/identity/token", timeout=10, data={
            "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, method: str, path: str, key: str | None = None,
             **kw: Any) -> httpx.Response:
        headers = self.as_key(key) if key else self.env.admin
        return httpx.request(method, f"{self.env.server.url}{path}", headers=headers,
                             timeout=60, **kw)

    def listing(self, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
        r = self.call("GET", "/v1/images", key, params={"limit": 1000, **params})
        assert r.status_code == 200, r.text
        assert r.json()["next_pagestart"] is None
        data: list[dict[str, Any]] = r.json()["data"]
        return data

    def tags(self, key: str | None = None, **params: Any) -> set[tuple[str, str | None]]:
        return {(i["repository"], i["tag"]) for i in self.listing(key, **params)}

    def audit(self, action: str, expect: int = 1) -> list[dict[str, Any]]:
        """The owner account's events of `action`, newest first, once `expect` are in."""
        deadline = time.monotonic() + 10
        while True:
            r = self.call("GET", "/v1/audit-events", params={"action": action})
            found = [{**e, "detail": json.loads(e["detail"])} for e in r.json()["data"]]
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("content")
    env = start_environment(root, content=True)
    try:
        for name, region in (("team-a", "us-south"), ("team-b", "us-south"),
                             ("team-eu", "eu-de")):
            create_namespace(env, name, region)
        layouts = {name: root / "layouts" / name for name in ("one", "two", "multi")}
        digests = {"one": build_image(layouts["one"]), "two": build_image(layouts["two"]),
                   "multi": build_index(layouts["multi"], labels={"team": "a"}, env=ENV)}
        skopeo = Skopeo(root / "skopeo")
        r = env.api("POST", "/v1/accounts", json={"name": "tenant-b"})
        assert r.status_code == 201, r.text
        world = World(env, skopeo, root, layouts, digests,
                      reader=create_robot(env, "reader", [("Reader", "team-a", "us-south")]),
                      writer=create_robot(env, "writer", [("Writer", "team-a", "us-south")]),
                      manager=create_robot(env, "manager",
                                           [("Manager", "team-a", "us-south")]),
                      other_owner_key=r.json()["apikey"])
        r = world.call("PUT", "/v1/namespaces/other-ns", world.other_owner_key,
                       params={"region": "us-south"})
        assert r.status_code == 201, r.text
        world.push("one", "other-ns/secret:1.0", key=world.other_owner_key)
        for layout, name in (("one", "team-a/web:1.0"), ("one", "team-a/web:latest"),
                             ("two", "team-a/web:2.0"), ("multi", "team-a/multi:1.0"),
                             ("two", "team-a/app/api:1"), ("one", "team-b/tools:1"),
                             ("two", "team-eu/x:1")):
            world.push(layout, name, service=EU if name.startswith("team-eu") else US)
        yield world
    finally:
        env.stop()


# --- image-list --------------------------------------------------------------------------


def test_image_list_shows_each_tag_with_its_digest_size_created_and_platforms(
        world: World) -> None:
    images = {(i["repository"], i["tag"]): i for i in world.listing(namespace="team-a")}
    assert set(images) >= {("team-a/web", "1.0"), ("team-a/web", "latest"),
                           ("team-a/web", "2.0"), ("team-a/multi", "1.0"),
                           ("team-a/app/api", "1")}
    web = images["team-a/web", "1.0"]
    assert web["digest"] == world.digests["one"] == images["team-a/web", "latest"]["digest"]
    manifest = json.loads((world.layouts["one"] / "blobs" / "sha256" /
                           world.digests["one"].split(":")[1]).read_text())
    assert web["size"] == manifest["config"]["size"] + sum(
        layer["size"] for layer in manifest["layers"])
    assert (web["registry"], web["region"], web["platforms"]) == (US, "us-south", [])
    multi = images["team-a/multi", "1.0"]
    assert multi["digest"] == world.digests["multi"]
    assert multi["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert [(p["os"], p["architecture"]) for p in multi["platforms"]] == [
        ("linux", "amd64"), ("linux", "arm64")]
    assert multi["size"] == sum(p["size"] for p in multi["platforms"])
    assert multi["created"] == "2026-01-02T03:04:05Z"


def test_image_list_without_a_namespace_covers_every_region_the_account_holds(
        world: World) -> None:
    everything = world.tags()
    assert {("team-b/tools", "1"), ("team-eu/x", "1"), ("team-a/web", "2.0")} <= everything
    assert world.tags(region="eu-de") == {("team-eu/x", "1")}


def test_image_list_pages_hold_whole_repositories_and_never_repeat_one(
        world: World) -> None:
    pages: list[list[tuple[str, str]]] = []
    start = None
    while True:
        params: dict[str, Any] = {"namespace": "team-a", "limit": 1}
        if start:
            params["pagestart"] = start
        r = world.call("GET", "/v1/images", params=params)
        assert r.status_code == 200, r.text
        pages.append([(i["repository"], i["tag"]) for i in r.json()["data"]])
        start = r.json()["next_pagestart"]
        if not start:
            break
    repositories = [{repository for repository, _ in page} for page in pages]
    assert all(len(names) == 1 for names in repositories), pages
    flat = [entry for page in pages for entry in page]
    assert len(flat) == len(set(flat)) and set(flat) == world.tags(namespace="team-a")
    assert sorted(t for r, t in flat if r == "team-a/web") == ["1.0", "2.0", "latest"]


def test_image_list_by_a_reader_shows_the_namespace_and_a_writer_is_refused(
        world: World) -> None:
    assert ("team-a/web", "2.0") in world.tags(world.reader.apikey, namespace="team-a")
    assert all(r.startswith("team-a/") for r, _ in world.tags(world.reader.apikey))
    r = world.call("GET", "/v1/images", world.writer.apikey, params={"namespace": "team-a"})
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["message"] == (
        "missing action container-registry.image.list on namespace team-a")


def test_no_account_sees_another_accounts_repositories_in_any_listing(world: World) -> None:
    mine = world.listing()
    assert not [i for i in mine if i["repository"].startswith("other-ns/")]
    theirs = world.listing(world.other_owner_key)
    assert [(i["repository"], i["tag"]) for i in theirs] == [("other-ns/secret", "1.0")]
    for namespace in ("team-a", "nobody-ns"):  # another account's, and nobody's: alike
        r = world.call("GET", "/v1/images", world.other_owner_key,
                       params={"namespace": namespace})
        assert r.status_code == 404, r.text
        assert r.json()["errors"][0]["message"] == f"namespace {namespace} not found"
    for repository in ("team-a/web", "nobody-ns/web"):
        r = world.call("GET", "/v1/images/inspect", world.other_owner_key,
                       params={"image": world.image(f"{repository}:1.0")})
        assert r.status_code == 403, r.text
        assert r.json()["errors"][0]["message"] == (
            "missing action container-registry.image.inspect on repository "
            f"{repository} in region us-south")


def test_a_repeated_listing_asks_the_registry_one_head_per_tag(world: World) -> None:
    """Manifests and configs are cached by digest: the second listing asks only which
    digest each tag points to (and each repository's tags)."""
    registry = world.env.registries[US]
    world.listing(namespace="team-a")
    time.sleep(0.5)  # the registry logs a request after answering it
    before = len(registry.requests())
    images = world.listing(namespace="team-a")
    time.sleep(0.5)
    made = registry.requests()[before:]
    kinds = sorted({(m, "tags" if "/tags/" in p else "manifest" if "/manifests/" in p
                     else "catalog" if "_catalog" in p else "blob") for m, p in made})
    assert kinds == [("GET", "catalog"), ("GET", "tags"), ("HEAD", "manifest")], made
    assert sum(1 for m, _ in made if m == "HEAD") == len(images)


def test_a_listing_with_max_age_takes_the_digests_the_registry_just_gave(
        world: World) -> None:
    """The console's images page (`max_age=5`): each repository's tags are read again, but
    no tag is asked for its digest within that time; without it, every tag is."""
    registry = world.env.registries[US]
    fresh = world.listing(namespace="team-a")
    time.sleep(0.5)
    before = len(registry.requests())
    remembered = world.listing(namespace="team-a", max_age=10)
    time.sleep(0.5)
    made = registry.requests()[before:]
    assert sorted(m for m, _ in made) == ["GET"] * len(made), made  # catalog and tags only
    assert {(i["repository"], i["tag"], i["digest"]) for i in remembered} == {
        (i["repository"], i["tag"], i["digest"]) for i in fresh}
    r = world.call("GET", "/v1/images", params={"namespace": "team-a", "max_age": 11})
    assert r.status_code == 400 and r.json()["errors"][0]["target"] == "max_age", r.text


def test_image_list_of_one_repository_reads_its_tags_without_the_catalog(
        world: World) -> None:
    """`repository=`: what the console's remove confirmation asks (the tags going with a
    digest), one tags list and a HEAD per tag, whatever the namespace holds besides."""
    registry = world.env.registries[US]
    time.sleep(0.5)
    before = len(registry.requests())
    images = world.listing(repository="team-a/web")
    time.sleep(0.5)
    made = registry.requests()[before:]
    assert {(i["repository"], i["tag"]) for i in images} == {
        ("team-a/web", "1.0"), ("team-a/web", "latest"), ("team-a/web", "2.0")}
    assert not [p for _, p in made if "_catalog" in p], made
    assert world.listing(repository="team-a/nothing-here") == []
    assert {i["tag"] for i in world.listing(world.reader.apikey, repository="team-a/web")} == {
        "1.0", "latest", "2.0"}
    for key, params, status in (
            (None, {"namespace": "team-b", "repository": "team-a/web"}, 400),
            (None, {"repository": "team-a"}, 400),
            (world.writer.apikey, {"repository": "team-a/web"}, 403),
            (world.other_owner_key, {"repository": "team-a/web"}, 404)):
        r = world.call("GET", "/v1/images", key, params=params)
        assert r.status_code == status, (params, r.text)


# --- image-inspect -----------------------------------------------------------------------


def test_image_inspect_shows_platforms_layers_and_config_with_secrets_redacted(
        world: World) -> None:
    r = world.call("GET", "/v1/images/inspect", world.reader.apikey,
                   params={"image": world.image("team-a/multi:1.0")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["digest"], body["tag"]) == (world.digests["multi"], "1.0")
    assert [(p["os"], p["architecture"]) for p in body["platforms"]] == [
        ("linux", "amd64"), ("linux", "arm64")]
    amd64 = body["platforms"][0]
    assert len(amd64["layers"]) == 1 and amd64["layers"][0]["size"] > 1024
    assert amd64["config"]["labels"] == {"team": "a"}
    assert amd64["config"]["env"] == ["PATH=/usr/bin", "DB_PASSWORD=<redacted>",
                                      "API_URL=<redacted>", "MODE=prod"]
    assert "hunter2" not in r.text and "p4ss" not in r.text


def test_image_inspect_is_refused_to_a_writer_without_inspect_rights(world: World) -> None:
    r = world.call("GET", "/v1/images/inspect", world.writer.apikey,
                   params={"image": world.image("team-a/web:1.0")})
    assert r.status_code == 403, r.text
    assert "container-registry.image.inspect" in r.json()["errors"][0]["message"]


def test_image_inspect_of_a_missing_tag_is_404(world: World) -> None:
    r = world.call("GET", "/v1/images/inspect", params={"image": world.image("team-a/web:9")})
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["message"] == f"image {world.image('team-a/web:9')} not found"


# --- image-tag ---------------------------------------------------------------------------


def test_image_tag_keeps_the_digest_and_uploads_no_layer(world: World) -> None:
    registry = world.env.registries[US]
    time.sleep(0.3)
    before = len(registry.requests())
    r = world.call("POST", "/v1/images/tags", world.manager.apikey, json={
        "source": world.image("team-a/multi:1.0"), "target": world.image("team-a/copied:v1")})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["digest"] == world.digests["multi"]
    assert body["manifests"][-1] == world.digests["multi"] and len(body["manifests"]) == 3
    assert body["mounted"] == 4  # a config and a layer per platform
    time.sleep(0.5)
    made = registry.requests()[before:]
    uploads = [(m, p) for m, p in made if "/blobs/uploads/" in p]
    assert uploads and all(m == "POST" and "mount=" in p for m, p in uploads), uploads
    inspected = world.skopeo.inspect(f"docker://{world.image('team-a/copied:v1')}",
                                     world.env.owner_key)
    assert inspected.code == 0, inspected.output
    assert json.loads(inspected.stdout)["mediaType"] == "application/vnd.oci.image.index.v1+json"
    listed = {(i["repository"], i["tag"]): i["digest"] for i in world.listing()}
    assert listed["team-a/copied", "v1"] == world.digests["multi"]
    event = world.audit("admin.tag_image")[0]
    assert event["actor"] == world.manager.iam_id
    assert event["detail"]["after"]["digest"] == world.digests["multi"]


def test_image_tag_is_refused_without_push_on_the_target(world: World) -> None:
    r = world.call("POST", "/v1/images/tags", world.reader.apikey, json={
        "source": world.image("team-a/web:1.0"), "target": world.image("team-a/web:reader")})
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0]["message"] == (
        "missing action container-registry.image.push on repository team-a/web in region "
        "us-south")


def test_image_tag_across_regions_is_refused(world: World) -> None:
    r = world.call("POST", "/v1/images/tags", json={
        "source": world.image("team-a/web:1.0"), "target": world.image("team-eu/web:1", EU)})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["message"].startswith("image-tag copies within one region")


# --- image-rm, image-untag, repository-rm -----------------------------------------------


def test_image_rm_reports_the_tags_that_went_with_the_digest(world: World) -> None:
    for layout, tag in (("one", "1"), ("one", "also"), ("two", "2")):
        world.push(layout, f"team-a/rm-me:{tag}")
    r = world.call("DELETE", "/v1/images", world.writer.apikey,
                   params={"image": world.image("team-a/rm-me:1")})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == [{
        "image": world.image("team-a/rm-me:1"), "repository": "team-a/rm-me",
        "digest": world.digests["one"], "tags": ["1", "also"], "other_tags": ["also"]}]
    assert {t for repo, t in world.tags(namespace="team-a") if repo == "team-a/rm-me"} == {"2"}
    event = world.audit("admin.remove_images")[0]
    assert event["detail"]["before"] == {"registry": US, "repository": "team-a/rm-me",
                                         "digest": world.digests["one"],
                                         "tags": ["1", "also"]}


def test_image_rm_is_refused_to_a_reader_and_removes_nothing(world: World) -> None:
    world.push("two", "team-a/keep:1")
    r = world.call("DELETE", "/v1/images", world.reader.apikey,
                   params={"image": world.image("team-a/keep:1")})
    assert r.status_code == 403, r.text
    assert "container-registry.image.delete" in r.json()["errors"][0]["message"]
    assert ("team-a/keep", "1") in world.tags(namespace="team-a")


def test_image_untag_is_refused_on_distribution_2_8_and_changes_nothing(
        world: World) -> None:
    world.push("one", "team-a/untag:1")
    r = world.call("DELETE", "/v1/images/tags", params={"image": world.image("team-a/untag:1")})
    assert r.status_code == 409, r.text
    message = r.json()["errors"][0]["message"]
    assert message.startswith(f"registry {US} cannot remove a tag alone")
    assert "DIGEST_INVALID" in message and "Nothing was changed" in message
    assert ("team-a/untag", "1") in world.tags(namespace="team-a")
    event = world.audit("admin.untag_image")[0]
    assert (event["outcome"], event["detail"]["error"]) == ("failure", message)


def test_repository_rm_empties_the_repository_and_hides_it(world: World) -> None:
    for layout, tag in (("one", "1"), ("two", "2"), ("one", "3")):
        world.push(layout, f"team-a/gone:{tag}")
    r = world.call("DELETE", "/v1/repositories", world.manager.apikey,
                   params={"repository": world.image("team-a/gone")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted((e["digest"], e["tags"]) for e in body["removed"]) == sorted([
        (world.digests["one"], ["1", "3"]), (world.digests["two"], ["2"])])
    assert body["remaining_tags"] == []
    assert not [t for t in world.tags(namespace="team-a") if t[0] == "team-a/gone"]
    assert ("team-a/gone", None) in world.tags(namespace="team-a", include_untagged="true")
    pulled = world.skopeo.inspect(f"docker://{world.image('team-a/gone:1')}",
                                  world.env.owner_key)
    assert pulled.code != 0
    events = world.audit("admin.remove_repository")
    assert events[0]["detail"]["before"]["repository"] == "team-a/gone"


def test_repository_rm_is_refused_to_a_reader(world: World) -> None:
    r = world.call("DELETE", "/v1/repositories", world.reader.apikey,
                   params={"repository": world.image("team-a/web")})
    assert r.status_code == 403, r.text
    assert ("team-a/web", "2.0") in world.tags(namespace="team-a")


def test_remove_namespace_deletes_every_repository_of_that_namespace_only(
        world: World) -> None:
    """The function namespace-rm calls, in one registry: what it deleted, nothing left."""
    create_namespace(world.env, "team-c", "us-south")
    for layout, name in (("one", "team-c/old:1"), ("two", "team-c/old/deep:2"),
                         ("two", "team-c/tools:1")):
        world.push(layout, name)
    settings = load_settings(data_dir=world.env.server.data_dir, registries=json.loads(
        world.env.server.env["IAM_REGISTRIES"]))
    runtime = Runtime.start(settings)
    try:
        removal = remove_namespace(runtime.content, registry=runtime.registries.require(US),
                                   namespace="team-c", acting_for=world.manager.iam_id)
    finally:
        runtime.close()
    assert removal.complete and removal.remaining == []
    assert {(r.repository, r.digest) for r in removal.removed} == {
        ("team-c/tools", world.digests["two"]), ("team-c/old", world.digests["one"]),
        ("team-c/old/deep", world.digests["two"])}
    assert world.tags(namespace="team-c") == set()
    assert ("team-b/tools", "1") in world.tags(namespace="team-b")
    assert ("team-a/web", "2.0") in world.tags(namespace="team-a")
    assert world.tags(world.other_owner_key) == {("other-ns/secret", "1.0")}


# --- the CLI -----------------------------------------------------------------------------


def test_cli_lists_tags_and_removes_images_as_ibm_names_them(world: World) -> None:
    server = world.env.server
    key_file = world.root / "manager.key"
    key_file.write_text(world.manager.apikey)
    server.cli("login", "--apikey", f"@{key_file}", "--endpoint", server.url)
    listed = server.cli("image-list", "--namespace", "team-a", "--output", "json").json()
    assert {"repository": "team-a/web", "tag": "2.0"}.items() <= next(
        i for i in listed if i["tag"] == "2.0").items()
    tagged = server.cli("image-tag", world.image("team-a/web:2.0"),
                        world.image("team-a/cli:1"), "--output", "json").json()
    assert tagged["digest"] == world.digests["two"]
    removed = server.cli("image-rm", world.image("team-a/cli:1"), "--output", "json").json()
    assert [(e["digest"], e["tags"]) for e in removed] == [(world.digests["two"], ["1"])]
    gone = server.cli("repository-rm", world.image("team-a/cli"), "-f", check=False)
    assert gone.code == 1 and "not found or already empty" in gone.stderr
