"""namespace-rm against the real parts: `iam serve --workers 2` (two processes, each running
the removal job) and three `docker-registry serve`, two of them in us-south, images pushed
by skopeo.

The module's set-up starts the removals that must be waited out, so that the other tests
run during the wait: account one pushes `team-old/secret:1.0` (and `latest`, the same
image) and `team-old/app:1.0`, then removes `team-old`; right after, a registry token it
was granted before the removal pushes `team-old/late:1` anyway. It also removes `team-gone`
while one registry of the region is stopped. The names are released only once the registry
tokens granted before could no longer push (IAM_TOKEN_TTL 60 s + the registry's 60 s
leeway, measured here) and a last sweep found every registry empty; then account two takes
`team-old` and nothing of account one is listed or pullable.

One backend (SQLite, the server's data directory): the state and lease logic runs on both
in tests/test_namespace_removal.py.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from iam.registry.claims import build_claims
from iam.tokens.signing import Keyring
from tests.registry_env import (
    REGISTRY_BIN,
    SKOPEO_BIN,
    Registry,
    Skopeo,
    build_image,
    registry_config,
)
from tests.server import Server, free_port, make_server

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(not all(os.path.exists(b) for b in (REGISTRY_BIN, SKOPEO_BIN)),
                       reason="docker-registry or skopeo missing: run scripts/ensure-system.sh"),
]

US, US2, EU = "registry.us", "registry.us2", "registry.eu"
REGIONS = {US: "us-south", US2: "us-south", EU: "eu-de"}
TTL = 60
#: the release waits TTL + leeway + 1 s after the start; then a job tick and a sweep
RELEASE_SLACK = 45


@dataclass
class World:
    server: Server
    registries: dict[str, Registry]
    skopeo: Skopeo
    root: Path
    one_key: str
    two_key: str
    one: dict[str, str]
    two: dict[str, str]
    digests: dict[str, str] = field(default_factory=dict)
    removed: dict[str, httpx.Response] = field(default_factory=dict)
    late_push: int = 0

    def api(self, method: str, path: str, headers: dict[str, str], **kw: Any
            ) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}{path}", headers=headers, timeout=60,
                             **kw)

    def image(self, service: str, name: str) -> str:
        return f"docker://{self.registries[service].host}/{name}"

    def push(self, layout: Path, service: str, name: str) -> None:
        r = self.skopeo.copy(f"oci:{layout}:latest", self.image(service, name),
                             dest_key=self.one_key)
        assert r.code == 0, r.output

    def cli_as(self, key_file: Path, *args: str, check: bool = True,
               stdin: str | None = None) -> Any:
        self.server.cli("login", "--apikey", f"@{key_file}", "--endpoint", self.server.url)
        return self.server.cli(*args, check=check, stdin=stdin)


def _bearer(server: Server, key: str) -> dict[str, str]:
    r = httpx.post(f"{server.url}/identity/token", timeout=30, data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _account(server: Server, admin: dict[str, str], name: str) -> str:
    r = httpx.post(f"{server.url}/v1/accounts", json={"name": name}, headers=admin, timeout=30)
    assert r.status_code == 201, r.text
    key: str = r.json()["apikey"]
    return key


def registry_token(server: Server, key: str, service: str, scope: str) -> str:
    basic = base64.b64encode(f"iamapikey:{key}".encode()).decode()
    r = httpx.get(f"{server.url}/token", params={"service": service, "scope": scope},
                  headers={"Authorization": f"Basic {basic}"}, timeout=30)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def push_with_token(registry: Registry, repository: str, tag: str, layout: Path,
                    token: str) -> int:
    """Push an OCI layout's image with a bare registry token (as a client holding one
    would): each blob in one upload, then the manifest. The manifest PUT's status."""
    auth = {"Authorization": f"Bearer {token}"}
    index = json.loads((layout / "index.json").read_text())["manifests"][0]
    blobs = layout / "blobs" / "sha256"
    manifest = (blobs / index["digest"].split(":")[1]).read_bytes()
    parsed = json.loads(manifest)
    with httpx.Client(base_url=registry.url, headers=auth, timeout=30) as http:
        for descriptor in [parsed["config"], *parsed["layers"]]:
            start = http.post(f"/v2/{repository}/blobs/uploads/")
            assert start.status_code == 202, start.text
            # Location carries the upload's state in its query: add the digest to it
            location = httpx.URL(start.headers["Location"]).copy_merge_params(
                {"digest": descriptor["digest"]})
            done = http.put(location,
                            content=(blobs / descriptor["digest"].split(":")[1]).read_bytes(),
                            headers={"Content-Type": "application/octet-stream"})
            assert done.status_code == 201, done.text
        put = http.put(f"/v2/{repository}/manifests/{tag}", content=manifest,
                       headers={"Content-Type": index["mediaType"]})
    return put.status_code


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("nsrm")
    ports = {service: free_port() for service in REGIONS}
    registries_json = json.dumps([{"service": s, "region": r,
                                   "url": f"http://127.0.0.1:{ports[s]}"}
                                  for s, r in REGIONS.items()])
    server = make_server(root / "iam", IAM_REGISTRIES=registries_json,
                         IAM_TOKEN_TTL=str(TTL), IAM_NAMESPACE_REMOVAL_INTERVAL="1",
                         IAM_REGISTRY_TIMEOUT="3")
    server.cli("init", "--apikey-file", str(root / "owner.key"))
    server.start("--workers", "2", ready_within=90)  # two processes importing at once
    registries: dict[str, Registry] = {}
    try:
        for service in REGIONS:
            section = registry_config(server, service, root / service / "trust")
            registries[service] = Registry(root=root / service, service=service,
                                           auth_section=section,
                                           storage=root / service / "storage",
                                           port=ports[service])
            registries[service].start()
        admin = _bearer(server, (root / "owner.key").read_text().strip())
        one_key, two_key = _account(server, admin, "tenant-one"), _account(server, admin,
                                                                             "tenant-two")
        for name, key in (("one.key", one_key), ("two.key", two_key)):
            (root / name).write_text(key)
            (root / name).chmod(0o600)
        w = World(server, registries, Skopeo(root / "skopeo"), root, one_key, two_key,
                  _bearer(server, one_key), _bearer(server, two_key))
        _set_up(w)
        yield w
    finally:
        for registry in registries.values():
            registry.stop()
        server.stop()


def _set_up(w: World) -> None:
    for name in ("team-old", "team-gone", "team-ask"):
        r = w.api("PUT", f"/v1/namespaces/{name}", w.one, params={"region": "us-south"})
        assert r.status_code == 201, r.text
    layouts = {name: w.root / "layouts" / name for name in ("secret", "app", "web", "late")}
    for name, layout in layouts.items():
        w.digests[name] = build_image(layout)
    w.push(layouts["secret"], US, "team-old/secret:1.0")
    w.push(layouts["secret"], US, "team-old/secret:latest")
    w.push(layouts["app"], US2, "team-old/app:1.0")
    w.push(layouts["web"], US, "team-gone/web:1")
    w.push(layouts["web"], US2, "team-gone/web:1")
    w.push(layouts["app"], US, "team-ask/app:1.0")
    # Granted before the removal, so valid for TTL more (and the registry's leeway).
    late_token = registry_token(w.server, w.one_key, US, "repository:team-old/late:pull,push")

    w.removed["team-old"] = w.api("DELETE", "/v1/namespaces/team-old", w.one,
                                  params={"region": "us-south"})
    w.late_push = push_with_token(w.registries[US], "team-old/late", "1", layouts["late"],
                                  late_token)
    w.registries[US2].stop()
    w.removed["team-gone"] = w.api("DELETE", "/v1/namespaces/team-gone", w.one,
                                   params={"region": "us-south"})


def started(w: World, name: str) -> dict[str, Any]:
    body: dict[str, Any] = w.removed[name].json()
    return body


def when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def events(w: World, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    r = w.api("GET", "/v1/audit-events", headers, params={"action": action, "limit": 1000})
    assert r.status_code == 200, r.text
    return [{**e, "detail": json.loads(e["detail"])} for e in r.json()["data"]]


def namespaces_of(w: World, headers: dict[str, str], *, counts: bool = True
                  ) -> dict[str, dict[str, Any]]:
    r = w.api("GET", "/v1/namespaces", headers,
              params={"region": "us-south", "counts": str(counts).lower()})
    assert r.status_code == 200, r.text
    return {n["name"]: n for n in r.json()["data"]}


# --- while the removals wait ---------------------------------------------------------------


def swept(w: World, namespace: str) -> list[dict[str, Any]]:
    """The audit trail's record of each registry's sweep of `namespace`, oldest first."""
    found = [e for e in events(w, w.one, "namespace.removal.registry")
             if e["detail"]["namespace"] == namespace]
    return list(reversed(found))


def first_sweeps(w: World, name: str) -> dict[str, dict[str, Any]]:
    """Each registry's part of the removal's first attempt: from the answer, or (when the
    attempt outlasted the request's budget on a loaded machine) from the audit trail."""
    body = started(w, name)
    if not body["running"]:
        return {s["registry"]: s for s in body["registries"]}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = swept(w, name)
        if len(found) >= 2:
            return {e["detail"]["registry"]: e["detail"] for e in found[:2]}
        time.sleep(0.5)
    raise AssertionError(f"no record of the first attempt of {name}")


def test_namespace_rm_reports_each_image_it_deleted_with_the_tags_that_went(
        world: World) -> None:
    r = world.removed["team-old"]
    assert r.status_code == 202, r.text  # images gone; the name waits out older tokens
    assert r.json()["state"] == "deleting" and r.json()["last_error"] is None
    sweeps = first_sweeps(world, "team-old")
    deleted = {(service, d["repository"], d["digest"], tuple(d["tags"]))
               for service, s in sweeps.items() for d in s["deleted"]}
    assert deleted == {(US, "team-old/secret", world.digests["secret"], ("1.0", "latest")),
                       (US2, "team-old/app", world.digests["app"], ("1.0",))}
    assert all(not s["error"] and s["remaining"] == [] for s in sweeps.values())
    if not r.json()["running"]:
        assert r.json()["images_deleted"] == 2
    recorded = {(e["detail"]["registry"], d["digest"]) for e in swept(world, "team-old")
                for d in e["detail"]["deleted"]}
    assert {(US, world.digests["secret"]), (US2, world.digests["app"])} <= recorded


def test_a_registry_that_is_down_keeps_the_namespace_deleting_and_names_it(
        world: World) -> None:
    r = world.removed["team-gone"]
    assert r.status_code == 202, r.text
    sweeps = first_sweeps(world, "team-gone")
    assert [d["digest"] for d in sweeps[US]["deleted"]] == [world.digests["web"]]
    assert sweeps[US2]["deleted"] == [] and US2 in sweeps[US2]["error"]
    listed = namespaces_of(world, world.one, counts=False)
    assert listed["team-gone"]["state"] == "deleting"
    assert US2 in listed["team-gone"]["last_error"]
    assert listed["team-ask"]["state"] == "active"


def test_push_into_a_deleting_namespace_is_refused(world: World) -> None:
    layout = world.root / "layouts" / "app"
    r = world.skopeo.copy(f"oci:{layout}:latest", world.image(US, "team-old/fresh:1"),
                          dest_key=world.one_key)
    assert r.code != 0
    assert "denied" in r.output or "unauthorized" in r.output, r.output
    token = registry_token(world.server, world.one_key, US,
                           "repository:team-old/fresh:pull,push")
    claims = token.split(".")[1]
    access = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["access"]
    assert access == [{"type": "repository", "name": "team-old/fresh", "actions": ["pull"]}]


def test_a_token_granted_before_the_removal_still_pushes_until_it_expires(
        world: World) -> None:
    """Why the name is not released at once: the registry checks a token it holds by its
    signature and `exp` only."""
    assert world.late_push == 201


def test_the_registry_accepts_a_token_up_to_60_s_past_its_exp(world: World) -> None:
    """Distribution's leeway, which the release waits out beside IAM_TOKEN_TTL."""
    keyring = Keyring(world.server.data_dir / "keys")
    registry = world.registries[EU]

    def status(expired_for: int) -> int:
        now = int(datetime.now(UTC).timestamp())
        claims = build_claims(issuer="registry-iam", subject="", audience=EU, access=[],
                              now=now - TTL - expired_for, ttl=TTL, jti=f"leeway-{now}")
        token = keyring.sign(claims, header="bundle")
        return httpx.get(f"{registry.url}/v2/", timeout=10,
                         headers={"Authorization": f"Bearer {token}"}).status_code

    assert status(-30) == 200  # not expired
    assert status(50) == 200  # expired 50 s ago: still accepted
    assert status(70) == 401  # 70 s: refused


def test_no_account_may_take_the_name_while_it_is_deleting(world: World) -> None:
    taken = world.cli_as(world.root / "two.key", "namespace-add", "team-old", "--region",
                         "us-south", check=False)
    assert taken.code == 1 and "HTTP 409" in taken.stderr and "being deleted" in taken.stderr


def test_the_removal_resumes_by_itself_once_the_registry_is_back(world: World) -> None:
    world.registries[US2].start()
    deadline = time.monotonic() + 60
    done: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not done:
        done = [e for e in swept(world, "team-gone")
                if e["detail"]["registry"] == US2 and e["outcome"] == "success"]
        time.sleep(0.5)
    assert done, "the removal did not resume"
    assert [d["digest"] for d in done[0]["detail"]["deleted"]] == [world.digests["web"]]
    release_after = when(started(world, "team-gone")["release_after"])
    if datetime.now(UTC) < release_after:  # emptied, but older tokens could still push
        assert namespaces_of(world, world.one)["team-gone"]["state"] == "deleting"


def test_namespace_rm_shows_what_will_go_and_asks_first(world: World) -> None:
    refused = world.cli_as(world.root / "one.key", "namespace-rm", "team-ask", "--region",
                           "us-south", stdin="n\n", check=False)
    assert refused.code == 1
    assert "holds 1 repositories, 1 images" in refused.stderr, refused.stderr
    assert "Delete namespace team-ask?" in refused.stderr
    listed = world.server.cli("namespace-list", "--region", "us-south", "--output",
                              "json").json()
    ask = next(n for n in listed if n["name"] == "team-ask")
    assert (ask["state"], ask["repositories"], ask["images"]) == ("active", 1, 1)
    assert ask["size"] > 0
    table = world.server.cli("namespace-list", "--region", "us-south").stdout
    assert "deleting" in table and "REPOSITORIES" in table


# --- once the wait is over -------------------------------------------------------------------


def test_the_names_are_released_only_after_the_token_wait_and_a_last_sweep(
        world: World) -> None:
    latest = max(when(started(world, n)["release_after"]) for n in ("team-old", "team-gone"))
    deadline = time.monotonic() + (latest - datetime.now(UTC)).total_seconds() + RELEASE_SLACK
    gone_at: dict[str, datetime] = {}
    while time.monotonic() < deadline and len(gone_at) < 2:
        listed = namespaces_of(world, world.one, counts=False)
        for name in ("team-old", "team-gone"):
            if name not in listed and name not in gone_at:
                gone_at[name] = datetime.now(UTC)
        time.sleep(1)
    assert set(gone_at) == {"team-old", "team-gone"}, namespaces_of(world, world.one)
    for name, at in gone_at.items():
        assert at >= when(started(world, name)["release_after"]), name
    releases = events(world, world.one, "namespace.removal.release")
    assert sorted(e["detail"]["namespace"] for e in releases) == ["team-gone", "team-old"]
    assert {e["detail"]["outcome"] for e in releases} == {"released"}
    # The last sweep removed what the older token pushed during the wait.
    late = [d for e in events(world, world.one, "namespace.removal.registry")
            for d in e["detail"]["deleted"] if d["repository"] == "team-old/late"]
    assert [(d["digest"], d["tags"]) for d in late] == [(world.digests["late"], ["1"])]


def test_account_two_takes_the_name_and_nothing_of_account_one_is_listed_or_pullable(
        world: World) -> None:
    r = world.api("PUT", "/v1/namespaces/team-old", world.two, params={"region": "us-south"})
    assert r.status_code == 201, r.text
    listed = namespaces_of(world, world.two)["team-old"]
    assert (listed["repositories"], listed["images"], listed["size"]) == (0, 0, 0)
    images = world.api("GET", "/v1/images", world.two, params={"namespace": "team-old"})
    assert images.status_code == 200, images.text
    assert images.json()["data"] == []
    for service, name in ((US, "team-old/secret:1.0"), (US, "team-old/secret:latest"),
                          (US, "team-old/late:1"), (US2, "team-old/app:1.0")):
        pulled = world.skopeo.inspect(world.image(service, name), world.two_key)
        assert pulled.code != 0 and "manifest unknown" in pulled.output, pulled.output


def test_two_workers_never_deleted_one_image_twice(world: World) -> None:
    deleted = [(e["detail"]["registry"], d["repository"], d["digest"])
               for e in events(world, world.one, "namespace.removal.registry")
               for d in e["detail"]["deleted"]]
    assert len(deleted) == len(set(deleted)) == 5  # secret, app, web twice, late
    workers = {e["detail"]["worker"] for e in events(world, world.one, "namespace.removal.")}
    assert workers  # by whichever process held the lease
