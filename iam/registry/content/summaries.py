"""What a listing shows of one image: digest, type, size, created time, platforms.

Size is the config plus the layers, as the manifest declares them; for an index, per
platform, and the image's size is their sum. `created` comes from the config (the newest
platform's for an index).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iam.registry.content import images
from iam.registry.content.manifests import Descriptor, Manifest, Parsed, parse
from iam.registry.content.service import Reach


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str
    digest: str
    size: int
    created: str | None


@dataclass(frozen=True)
class ImageSummary:
    registry: str
    region: str
    repository: str
    tag: str | None
    digest: str | None
    media_type: str | None
    size: int | None
    created: str | None
    platforms: tuple[Platform, ...] = ()


def _created(config: dict[str, Any]) -> str | None:
    value = config.get("created")
    return value if isinstance(value, str) else None


def _text(config: dict[str, Any], key: str) -> str:
    value = config.get(key)
    return value if isinstance(value, str) else ""


def platform_of(reach: Reach, repository: str, descriptor: Descriptor, manifest: Manifest, *,
                token: str) -> tuple[Parsed, dict[str, Any], Platform]:
    """One image manifest with its config, as a platform."""
    parsed = parse(manifest, registry=reach.name)
    config: dict[str, Any] = {}
    if parsed.config is not None:
        config = images.config(reach, repository, parsed.config, token=token)
    declared = descriptor.platform or {}
    platform = Platform(os=declared.get("os") or _text(config, "os"),
                        architecture=declared.get("architecture")
                        or _text(config, "architecture"),
                        variant=declared.get("variant") or _text(config, "variant"),
                        digest=manifest.digest, size=parsed.size, created=_created(config))
    return parsed, config, platform


def summarize(reach: Reach, repository: str, tag: str | None, manifest: Manifest, *,
              token: str) -> ImageSummary:
    parsed = parse(manifest, registry=reach.name)
    if not parsed.is_index:
        self = Descriptor(manifest.media_type, manifest.digest, len(manifest.body))
        _, _, platform = platform_of(reach, repository, self, manifest, token=token)
        return ImageSummary(reach.name, reach.registry.region, repository, tag,
                            manifest.digest, parsed.media_type, platform.size,
                            platform.created)

    def child(descriptor: Descriptor) -> Platform:
        found = images.child(reach, repository, descriptor, token=token)
        return platform_of(reach, repository, descriptor, found, token=token)[2]

    # One after the other: a summary already runs beside others (listing's own bound).
    platforms = tuple(child(d) for d in parsed.children)
    created = max((p.created for p in platforms if p.created), default=None)
    return ImageSummary(reach.name, reach.registry.region, repository, tag, manifest.digest,
                        parsed.media_type, sum(p.size for p in platforms), created, platforms)
