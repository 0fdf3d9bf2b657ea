"""Image and repository names as docker writes them, resolved to a known registry.

`<registry host>/<namespace>/<repository>:<tag>` or `...@<digest>`; the host is the one of
the registry's `url` (`127.0.0.1:5000`, `registry.example`). When only one registry is known
the host may be left out. No tag means `latest`. Names follow distribution's grammar
(lowercase components separated by `/`, at most 255 characters); the namespace is the first
component. Pure functions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from iam.config import Registry
from iam.errors import InvalidInput

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
MAX_REFERENCE = 512
DEFAULT_TAG = "latest"


def host_of(registry: Registry) -> str:
    """The host (and port) docker users write for this registry: its URL's."""
    return urlsplit(registry.url).netloc if registry.url else ""


@dataclass(frozen=True)
class RepositoryName:
    registry: Registry
    repository: str  # `team-a/app/web`

    @property
    def namespace(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def path(self) -> str:
        """The part inside the namespace (`app/web`), what repository policies match."""
        return self.repository.split("/", 1)[1]

    def __str__(self) -> str:
        host = host_of(self.registry)
        return f"{host}/{self.repository}" if host else self.repository


@dataclass(frozen=True)
class ImageName(RepositoryName):
    tag: str | None = None
    digest: str | None = None

    @property
    def reference(self) -> str:
        """What the manifest is asked by: the digest if given, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        suffix = f"@{self.digest}" if self.digest else f":{self.tag or DEFAULT_TAG}"
        return f"{super().__str__()}{suffix}"


def _check_repository(name: str, what: str) -> None:
    parts = name.split("/")
    if len(name) > 255 or len(parts) < 2 or not all(_COMPONENT.match(p) for p in parts):
        raise InvalidInput(
            f"{what} {name[:100]!r} is not <namespace>/<repository>: lowercase letters, "
            "digits and separators (. _ __ -), components joined by '/'", target=what)


def _registry_of(first: str, registries: Sequence[Registry], what: str,
                 value: str) -> tuple[Registry, bool]:
    """The registry a name's first component names (True) or the only one (False)."""
    reachable = [r for r in registries if r.url]
    looks_like_host = "." in first or ":" in first or first == "localhost"
    for registry in reachable:
        if host_of(registry) == first:
            return registry, True
    if looks_like_host:
        hosts = ", ".join(host_of(r) for r in reachable) or "(none has a url)"
        raise InvalidInput(f"{what} {value[:100]!r} names registry host {first[:100]!r}, "
                           f"which this service does not know; known hosts: {hosts}",
                           target=what)
    if len(registries) == 1:
        return registries[0], False
    hosts = ", ".join(host_of(r) for r in reachable) or "(none has a url)"
    raise InvalidInput(f"{what} {value[:100]!r} does not say which registry: write it as "
                       f"<host>/<namespace>/<repository>; known hosts: {hosts}", target=what)


def parse_repository(value: str, registries: Sequence[Registry], *,
                     what: str = "repository") -> RepositoryName:
    if not value or len(value) > MAX_REFERENCE:
        raise InvalidInput(f"{what} must have 1 to {MAX_REFERENCE} characters", target=what)
    first, _, rest = value.partition("/")
    registry, named = _registry_of(first, registries, what, value)
    name = rest if named else value
    _check_repository(name, what)
    return RepositoryName(registry, name)


def parse_image(value: str, registries: Sequence[Registry], *,
                what: str = "image") -> ImageName:
    """`[host/]namespace/repository[:tag|@digest]`; no tag means `latest`."""
    if not value or len(value) > MAX_REFERENCE:
        raise InvalidInput(f"{what} must have 1 to {MAX_REFERENCE} characters", target=what)
    name, at, digest = value.partition("@")
    tag = None
    if at:
        if not _DIGEST.match(digest):
            raise InvalidInput(f"{what} {value[:100]!r} has an invalid digest (sha256:<64 "
                               "hex digits>)", target=what)
    else:
        head, colon, tail = name.rpartition(":")
        if colon and "/" not in tail:  # a colon after the last '/' is a tag, not a port
            if not _TAG.match(tail):
                raise InvalidInput(f"{what} {value[:100]!r} has an invalid tag (letters, "
                                   "digits, _ . -, at most 128)", target=what)
            name, tag = head, tail
    repository = parse_repository(name, registries, what=what)
    return ImageName(repository.registry, repository.repository, tag=tag,
                     digest=digest if at else None)
