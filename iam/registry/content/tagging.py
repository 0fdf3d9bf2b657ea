"""image-tag: a new name for an existing image, copied inside the registry.

Within one registry (so one region): every blob the image names is mounted from the source
repository into the target (no byte passes through this service or the client), then the
manifest is put under the target tag with its exact bytes, so the target has the source's
digest. An index is copied child by child (each by its digest) before the index itself.
Needs `container-registry.image.pull` on the source and `.image.push` on the target.
"""

from __future__ import annotations

from dataclasses import dataclass

from iam.errors import Forbidden, IamError, Incomplete, InvalidInput, NotFound, RegistryRefused
from iam.identity.authn import Principal
from iam.registry.content import images
from iam.registry.content.manifests import Manifest, parse
from iam.registry.content.references import ImageName, parse_image
from iam.registry.content.service import Reach, RegistryContent
from iam.registry.scopes import Scope
from iam.store.journal import ChangeJournal

PULL = "container-registry.image.pull"
PUSH = "container-registry.image.push"
KIND = "image"


@dataclass(frozen=True)
class Tagged:
    source: str
    target: str
    digest: str
    media_type: str
    #: every manifest put in the target (children first, the tagged one last)
    manifests: list[str]
    #: blobs mounted from the source (none uploaded)
    mounted: int


def _require(held: frozenset[str], action: str, name: ImageName) -> None:
    if action not in held:
        raise Forbidden(action, f"missing action {action} on repository {name.repository} "
                                f"in region {name.registry.region or '(default)'}")


class _Copy:
    """One copy in progress: what was put so far, for an honest report if it stops."""

    def __init__(self, reach: Reach, source: ImageName, target: ImageName, token: str) -> None:
        self.reach = reach
        self.source = source
        self.target = target
        self.token = token
        self.put: list[str] = []
        self.mounted = 0

    def image(self, manifest: Manifest, reference: str) -> None:
        """Mount the blobs of an image manifest, then put it under `reference`."""
        parsed = parse(manifest, registry=self.reach.name)
        if self.source.repository != self.target.repository:
            blobs = [parsed.config, *parsed.layers] if parsed.config else list(parsed.layers)
            for digest in dict.fromkeys(d.digest for d in blobs if not d.foreign):
                if not self.reach.api.mount(self.target.repository,
                                            source=self.source.repository, digest=digest,
                                            token=self.token):
                    raise RegistryRefused(
                        f"registry {self.reach.name} declined to mount blob {digest} from "
                        f"{self.source.repository} into {self.target.repository}",
                        target="registry")
                self.mounted += 1
        self.reach.api.put_manifest(self.target.repository, reference, manifest,
                                    token=self.token)
        self.put.append(manifest.digest)

    def run(self, manifest: Manifest) -> None:
        parsed = parse(manifest, registry=self.reach.name)
        if parsed.is_index:
            for child in parsed.children:
                found = images.child(self.reach, self.source.repository, child,
                                     token=self.token)
                self.image(found, found.digest)
            self.reach.api.put_manifest(self.target.repository, self.target.reference,
                                        manifest, token=self.token)
            self.put.append(manifest.digest)
        else:
            self.image(manifest, self.target.reference)

    def stopped(self, cause: IamError, manifest: Manifest) -> IamError:
        if not self.put:
            return cause
        parsed = parse(manifest, registry=self.reach.name)
        wanted = [c.digest for c in parsed.children] + [manifest.digest]
        done: list[dict[str, object]] = [
            {"repository": self.target.repository, "digest": d,
             "tag": self.target.tag if d == manifest.digest else None} for d in self.put]
        not_done: list[dict[str, object]] = [
            {"repository": self.target.repository, "digest": d,
             "tag": self.target.tag if d == manifest.digest else None}
            for d in wanted if d not in self.put]
        return Incomplete(cause, done=done, not_done=not_done)


def tag_image(content: RegistryContent, principal: Principal, *, source: str, target: str,
              journal: ChangeJournal) -> Tagged:
    known = content.registries.all()
    src = parse_image(source, known, what="source")
    dst = parse_image(target, known, what="target")
    if dst.digest or not dst.tag:
        raise InvalidInput("target must name a tag (<namespace>/<repository>:<tag>)",
                           target="target")
    if src.registry.service != dst.registry.service:
        where = ("one region" if src.registry.region != dst.registry.region
                 else "one registry")
        raise InvalidInput(f"image-tag copies within {where}: the source is in "
                           f"{src.registry.service} ({src.registry.region or 'default'}), the "
                           f"target in {dst.registry.service} "
                           f"({dst.registry.region or 'default'})", target="target")
    region = src.registry.region
    holdings = content.holdings(principal, region=region)
    held_src = holdings.held(region, src.namespace, src.path)
    held_dst = holdings.held(region, dst.namespace, dst.path)
    _require(held_src, PULL, src)
    _require(held_dst, PUSH, dst)
    _require(held_dst, PULL, dst)
    reach = content.reach(src.registry)
    token = reach.credentials.as_caller(
        reach.registry, iam_id=principal.iam_id,
        held={(src.namespace, src.path): held_src, (dst.namespace, dst.path): held_dst},
        scopes=[Scope("repository", src.repository, ("pull",)),
                Scope("repository", dst.repository, ("pull", "push"))])
    manifest = images.manifest(reach, src.repository, src.reference, token=token)
    if manifest is None:
        raise NotFound(f"image {src} not found", target="source")
    copy = _Copy(reach, src, dst, token)
    try:
        copy.run(manifest)
    except IamError as exc:
        raise copy.stopped(exc, manifest) from None
    journal.record(KIND, after={"image": str(dst), "repository": dst.repository,
                                "tag": dst.tag, "digest": manifest.digest,
                                "source": str(src), "manifests": list(copy.put)})
    return Tagged(str(src), str(dst), manifest.digest, parse(manifest,
                  registry=reach.name).media_type, list(copy.put), copy.mounted)
