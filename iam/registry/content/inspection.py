"""image-inspect: an image's manifest type, platforms, layers and config.

The config shows what docker's `inspect` does that says what an image is: created,
architecture, OS, labels, exposed ports, entrypoint, command, working directory, user,
history; and its environment, with the value of every variable that looks like a secret
(by its name, or by its value) replaced by `<redacted>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from iam.errors import Forbidden, NotFound
from iam.identity.authn import Principal
from iam.registry.content import images
from iam.registry.content.manifests import Descriptor, Manifest, parse
from iam.registry.content.references import ImageName, parse_image
from iam.registry.content.service import Reach, RegistryContent
from iam.registry.content.summaries import platform_of
from iam.registry.scopes import Scope

INSPECT = "container-registry.image.inspect"
PULL = "container-registry.image.pull"
REDACTED = "<redacted>"
_SECRET_NAME = re.compile(r"(pass|secret|token|key|credential|auth|private|pwd|cert|salt|"
                          r"signature|session|cookie|dsn)", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"(-----BEGIN|riam_|^eyJ[A-Za-z0-9_-]+\.|://[^/\s:@]+:[^/\s@]+@|"
                           r"^(ghp|gho|github_pat|glpat|xox[abp]|sk|AKIA)[-_A-Za-z0-9]{8,})")
MAX_HISTORY = 500


def redact_env(entries: Any) -> list[str]:
    """`NAME=value` entries, with secret-looking values replaced."""
    if not isinstance(entries, list):
        return []
    shown: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            continue
        name, eq, value = entry.partition("=")
        if eq and value and (_SECRET_NAME.search(name) or _SECRET_VALUE.search(value)):
            value = REDACTED
        shown.append(f"{name}{eq}{value}")
    return shown


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def _history(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    kept = ("created", "created_by", "comment", "empty_layer", "author")
    return [{k: entry[k] for k in kept if k in entry}
            for entry in value[:MAX_HISTORY] if isinstance(entry, dict)]


def config_view(config: dict[str, Any]) -> dict[str, Any]:
    inner = config.get("config") if isinstance(config.get("config"), dict) else {}
    assert isinstance(inner, dict)
    labels = inner.get("Labels") if isinstance(inner.get("Labels"), dict) else {}
    ports = inner.get("ExposedPorts") if isinstance(inner.get("ExposedPorts"), dict) else {}
    return {
        "created": config.get("created"), "author": config.get("author"),
        "architecture": config.get("architecture"), "os": config.get("os"),
        "variant": config.get("variant"),
        "labels": {str(k): str(v) for k, v in (labels or {}).items()},
        "env": redact_env(inner.get("Env")),
        "exposed_ports": sorted(str(p) for p in (ports or {})),
        "entrypoint": _strings(inner.get("Entrypoint")), "cmd": _strings(inner.get("Cmd")),
        "working_dir": inner.get("WorkingDir") or None, "user": inner.get("User") or None,
        "history": _history(config.get("history")),
    }


@dataclass(frozen=True)
class PlatformDetail:
    os: str
    architecture: str
    variant: str
    digest: str
    media_type: str
    size: int
    layers: list[dict[str, Any]]
    config: dict[str, Any]


@dataclass(frozen=True)
class Inspection:
    image: str
    registry: str
    repository: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    platforms: list[PlatformDetail] = field(default_factory=list)


def _detail(reach: Reach, repository: str, descriptor: Descriptor, token: str,
            manifest: Manifest | None = None) -> PlatformDetail:
    found = manifest or images.child(reach, repository, descriptor, token=token)
    parsed, config, platform = platform_of(reach, repository, descriptor, found, token=token)
    layers = [{"digest": d.digest, "size": d.size, "media_type": d.media_type}
              for d in parsed.layers]
    return PlatformDetail(platform.os, platform.architecture, platform.variant, found.digest,
                          parsed.media_type, platform.size, layers, config_view(config))


def inspect_image(content: RegistryContent, principal: Principal, *, image: str
                  ) -> Inspection:
    name = parse_image(image, content.registries.all())
    region = name.registry.region
    holdings = content.holdings(principal, region=region)
    held = holdings.held(region, name.namespace, name.path)
    for action in (INSPECT, PULL):
        if action not in held:
            raise Forbidden(action, f"missing action {action} on repository {name.repository}"
                                    f" in region {region or '(default)'}")
    reach = content.reach(name.registry)
    token = reach.credentials.as_caller(
        reach.registry, iam_id=principal.iam_id, held={(name.namespace, name.path): held},
        scopes=[Scope("repository", name.repository, ("pull",))])
    return inspect_as(reach, name, token)


def inspect_as(reach: Reach, name: ImageName, token: str) -> Inspection:
    found = images.manifest(reach, name.repository, name.reference, token=token)
    if found is None:
        raise NotFound(f"image {name} not found", target="image")
    parsed = parse(found, registry=reach.name)
    if parsed.is_index:
        platforms = [_detail(reach, name.repository, d, token) for d in parsed.children]
    else:
        itself = Descriptor(found.media_type, found.digest, len(found.body))
        platforms = [_detail(reach, name.repository, itself, token, found)]
    return Inspection(str(name), reach.name, name.repository,
                      None if name.digest else name.tag or "latest", found.digest,
                      parsed.media_type, sum(p.size for p in platforms), platforms)
