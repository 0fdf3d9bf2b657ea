"""The pure parts of the content operations: image names, listing cursors, what
image-inspect redacts, the digest cache's bound."""

from __future__ import annotations

import pytest

from iam.config import Registry
from iam.errors import InvalidInput
from iam.registry.content.cache import OVERHEAD, DigestCache
from iam.registry.content.inspection import redact_env
from iam.registry.content.listing import Cursor
from iam.registry.content.manifests import Manifest, digest_of
from iam.registry.content.references import parse_image, parse_repository

US = Registry(service="registry.us", region="us-south", url="http://127.0.0.1:5000")
EU = Registry(service="registry.eu", region="eu-de", url="https://registry.example")
DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("value", "registry", "repository", "tag", "digest"), [
    ("127.0.0.1:5000/team-a/web:1.4", US, "team-a/web", "1.4", None),
    ("127.0.0.1:5000/team-a/web", US, "team-a/web", None, None),
    ("registry.example/team-a/app/web:v2", EU, "team-a/app/web", "v2", None),
    (f"registry.example/team-a/web@{DIGEST}", EU, "team-a/web", None, DIGEST),
])
def test_parse_image_finds_the_registry_by_its_url_host(
        value: str, registry: Registry, repository: str, tag: str | None,
        digest: str | None) -> None:
    name = parse_image(value, [US, EU])
    assert (name.registry, name.repository, name.tag, name.digest) == (
        registry, repository, tag, digest)
    assert name.reference == (digest or tag or "latest")


def test_parse_image_without_a_host_uses_the_only_registry() -> None:
    name = parse_image("team-a/web", [US])
    assert (name.registry, name.repository, name.reference, str(name)) == (
        US, "team-a/web", "latest", "127.0.0.1:5000/team-a/web:latest")


@pytest.mark.parametrize(("value", "message"), [
    ("team-a/web:1", "does not say which registry"),
    ("other.example/team-a/web:1", "names registry host 'other.example'"),
    ("127.0.0.1:5000/web:1", "is not <namespace>/<repository>"),
    ("127.0.0.1:5000/Team-A/web:1", "is not <namespace>/<repository>"),
    ("127.0.0.1:5000/team-a/../web", "is not <namespace>/<repository>"),
    ("127.0.0.1:5000/team-a/web:bad tag", "has an invalid tag"),
    ("127.0.0.1:5000/team-a/web@sha256:short", "has an invalid digest"),
    ("x" * 600, "must have 1 to 512 characters"),
])
def test_parse_image_refuses_what_docker_would_not_name(value: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_image(value, [US, EU])
    assert message in caught.value.message


def test_parse_repository_refuses_a_tag() -> None:
    with pytest.raises(InvalidInput):
        parse_repository("127.0.0.1:5000/team-a/web:1", [US])


def test_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    cursor = Cursor("registry.us", "team-a/app/web")
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(InvalidInput) as caught:
        Cursor.decode("not-a-cursor!")
    assert caught.value.target == "pagestart"


@pytest.mark.parametrize(("entry", "shown"), [
    ("PATH=/usr/bin", "PATH=/usr/bin"),
    ("DB_PASSWORD=hunter2", "DB_PASSWORD=<redacted>"),
    ("GITHUB_TOKEN=abc", "GITHUB_TOKEN=<redacted>"),
    ("AWS_SECRET_ACCESS_KEY=x", "AWS_SECRET_ACCESS_KEY=<redacted>"),
    ("DATABASE_URL=postgres://app:s3cret@db/app", "DATABASE_URL=<redacted>"),
    ("CI_KEY_FILE=", "CI_KEY_FILE="),
    ("OWNER=riam_0123456789abcdefghij", "OWNER=<redacted>"),
    ("TLS=-----BEGIN PRIVATE KEY-----", "TLS=<redacted>"),
    ("LANG=C.UTF-8", "LANG=C.UTF-8"),
])
def test_inspect_redacts_environment_values_that_look_like_secrets(entry: str,
                                                                   shown: str) -> None:
    assert redact_env([entry]) == [shown]


def test_the_digest_cache_keeps_within_its_bytes_least_recently_used_out() -> None:
    cache = DigestCache(max_bytes=3 * (OVERHEAD + 200))
    manifests = [Manifest(digest_of(bytes([i]) * 50), "t", bytes([i]) * 50) for i in range(5)]
    for manifest in manifests:
        cache.keep_manifest(manifest)
    assert cache.size <= cache.max_bytes
    assert cache.manifest(manifests[0].digest) is None
    assert cache.manifest(manifests[4].digest) == manifests[4]
    assert DigestCache(0).size == 0
    off = DigestCache(0)
    off.keep_blob(DIGEST, b"{}")
    assert off.blob(DIGEST) is None
