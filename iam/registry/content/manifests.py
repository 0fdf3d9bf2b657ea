"""What a registry answers, read: manifests (image, index), image configs, digests.

A manifest is kept as the exact bytes the registry sent (its digest is the hash of those
bytes; re-serialising would change it). Parsing reads only what the content operations
need and refuses, as a `RegistryBadAnswer` naming the registry, what is not the documented
JSON. Pure functions.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from iam.errors import RegistryBadAnswer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
#: Every type asked for, in the `Accept` of each manifest request.
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
#: Layers the registry does not hold (their `urls` point elsewhere): never mounted.
FOREIGN = frozenset({"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar",
                     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"})
DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry holds it: the exact bytes, their digest and type."""

    digest: str
    media_type: str
    body: bytes


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: dict[str, str] | None = None

    @property
    def foreign(self) -> bool:
        return self.media_type in FOREIGN


@dataclass(frozen=True)
class Parsed:
    """An image manifest (`config`, `layers`) or an index (`children`, one per platform)."""

    media_type: str
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES

    @property
    def size(self) -> int:
        """Config and layers (of an image manifest; 0 for an index)."""
        return (self.config.size if self.config else 0) + sum(d.size for d in self.layers)


def digest_of(body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def check_digest(body: bytes, digest: str, *, registry: str, what: str) -> None:
    """The bytes hash to `digest`, or the registry's answer is refused."""
    algorithm = digest.partition(":")[0]
    if algorithm not in ("sha256", "sha512") or digest_of(body, algorithm) != digest:
        raise RegistryBadAnswer(f"registry {registry} answered {what} whose bytes do not "
                                f"hash to {digest[:80]}", registry=registry)


def _json(body: bytes, *, registry: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RegistryBadAnswer(f"registry {registry} answered {what} that is not JSON",
                                registry=registry) from None
    if not isinstance(value, dict):
        raise RegistryBadAnswer(f"registry {registry} answered {what} that is not a JSON "
                                "object", registry=registry)
    return value


def _descriptor(value: Any, *, registry: str) -> Descriptor:
    if not isinstance(value, dict):
        raise RegistryBadAnswer(f"registry {registry} answered a manifest with a descriptor "
                                "that is not an object", registry=registry)
    digest, size = value.get("digest"), value.get("size")
    media_type = value.get("mediaType", "")
    if (not isinstance(digest, str) or not DIGEST.match(digest) or not isinstance(size, int)
            or isinstance(size, bool) or size < 0 or not isinstance(media_type, str)):
        raise RegistryBadAnswer(f"registry {registry} answered a manifest with a descriptor "
                                "without a valid digest and size", registry=registry)
    platform = value.get("platform")
    shown = None
    if isinstance(platform, dict):
        shown = {k: str(platform[k]) for k in ("os", "architecture", "variant")
                 if isinstance(platform.get(k), str)}
    return Descriptor(media_type, digest, size, shown)


def parse(manifest: Manifest, *, registry: str) -> Parsed:
    body = _json(manifest.body, registry=registry, what="a manifest")
    media_type = body.get("mediaType") or manifest.media_type
    if media_type not in INDEXES | IMAGES:
        raise RegistryBadAnswer(f"registry {registry} answered a manifest of type "
                                f"{str(media_type)[:100]!r}, which this service does not read",
                                registry=registry)
    if media_type in INDEXES:
        children = body.get("manifests")
        if not isinstance(children, list):
            raise RegistryBadAnswer(f"registry {registry} answered an index without "
                                    "`manifests`", registry=registry)
        return Parsed(media_type, None, (),
                      tuple(_descriptor(c, registry=registry) for c in children))
    layers = body.get("layers")
    if not isinstance(layers, list):
        raise RegistryBadAnswer(f"registry {registry} answered an image manifest without "
                                "`layers`", registry=registry)
    return Parsed(media_type, _descriptor(body.get("config"), registry=registry),
                  tuple(_descriptor(layer, registry=registry) for layer in layers), ())


def config_of(body: bytes, *, registry: str) -> dict[str, Any]:
    """An image config (created, architecture, os, config.Labels...), as JSON."""
    return _json(body, registry=registry, what="an image config")
