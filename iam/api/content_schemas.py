"""Request and response shapes of the registry content API (`/v1/images`,
`/v1/repositories`): the domain's reports, field for field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictStr

from iam.api.schemas import Strict
from iam.registry.content.deletion import ImageRemoval, Untagged
from iam.registry.content.inspection import Inspection
from iam.registry.content.listing import ImagePage
from iam.registry.content.removal import RepositoryRemoval
from iam.registry.content.summaries import ImageSummary
from iam.registry.content.tagging import Tagged


class PlatformPublic(BaseModel):
    os: str
    architecture: str
    variant: str
    digest: str
    size: int
    created: str | None


class ImagePublic(BaseModel):
    registry: str = Field(description="the registry's service name")
    region: str
    repository: str
    tag: str | None = Field(description="null: a repository without tags (include_untagged)")
    digest: str | None
    media_type: str | None
    size: int | None = Field(description="config + layers; for an index, the sum of its "
                                         "platforms'")
    created: str | None = Field(description="from the image config (newest platform's)")
    platforms: list[PlatformPublic] = Field(description="per platform, for an index")

    @classmethod
    def of(cls, image: ImageSummary) -> ImagePublic:
        return cls(registry=image.registry, region=image.region, repository=image.repository,
                   tag=image.tag, digest=image.digest, media_type=image.media_type,
                   size=image.size, created=image.created,
                   platforms=[PlatformPublic(**vars(p)) for p in image.platforms])


class ImageList(BaseModel):
    data: list[ImagePublic]
    count: int = Field(description="images on this page")
    limit: int
    next_pagestart: str | None = Field(description="pass as `pagestart` for the next page; "
                                                   "null on the last")
    notes: list[str] = Field(description="registries left out, and why")

    @classmethod
    def of(cls, page: ImagePage, *, limit: int) -> ImageList:
        return cls(data=[ImagePublic.of(i) for i in page.images], count=len(page.images),
                   limit=limit, next_pagestart=page.next_pagestart, notes=page.notes)


class LayerPublic(BaseModel):
    digest: str
    size: int
    media_type: str


class PlatformDetailPublic(BaseModel):
    os: str
    architecture: str
    variant: str
    digest: str
    media_type: str
    size: int
    layers: list[LayerPublic]
    config: dict[str, Any] = Field(description="created, author, architecture, os, variant, "
                                               "labels, env (secret-looking values "
                                               "redacted), exposed_ports, entrypoint, cmd, "
                                               "working_dir, user, history")


class InspectionPublic(BaseModel):
    image: str
    registry: str
    repository: str
    tag: str | None
    digest: str
    media_type: str
    size: int
    platforms: list[PlatformDetailPublic]

    @classmethod
    def of(cls, found: Inspection) -> InspectionPublic:
        return cls.model_validate(found, from_attributes=True)


class TagBody(Strict):
    source: StrictStr = Field(max_length=512, description="[host/]namespace/repo[:tag|@digest]")
    target: StrictStr = Field(max_length=512, description="[host/]namespace/repo:tag")


class TaggedPublic(BaseModel):
    source: str
    target: str
    digest: str = Field(description="the target's digest: the source's")
    media_type: str
    manifests: list[str] = Field(description="manifests put in the target, the tagged last")
    mounted: int = Field(description="blobs mounted from the source (none uploaded)")

    @classmethod
    def of(cls, tagged: Tagged) -> TaggedPublic:
        return cls.model_validate(tagged, from_attributes=True)


class ImageRemovalPublic(BaseModel):
    image: str
    repository: str
    digest: str
    tags: list[str] = Field(description="every tag that pointed to the digest: all went")
    other_tags: list[str] = Field(description="the tags that went besides the one named")

    @classmethod
    def of(cls, removal: ImageRemoval) -> ImageRemovalPublic:
        return cls.model_validate(removal, from_attributes=True)


class ImageRemovals(BaseModel):
    data: list[ImageRemovalPublic]
    count: int


class UntaggedPublic(BaseModel):
    image: str
    repository: str
    tag: str
    digest: str

    @classmethod
    def of(cls, untagged: Untagged) -> UntaggedPublic:
        return cls.model_validate(untagged, from_attributes=True)


class RemovedPublic(BaseModel):
    repository: str
    digest: str
    tags: list[str]


class RepositoryRemovalPublic(BaseModel):
    registry: str
    repository: str
    removed: list[RemovedPublic]
    remaining_tags: list[str] = Field(description="tags found after the deletes (pushed "
                                                  "meanwhile); empty when it is emptied")

    @classmethod
    def of(cls, removal: RepositoryRemoval) -> RepositoryRemovalPublic:
        return cls(registry=removal.registry, repository=removal.repository,
                   removed=[RemovedPublic(repository=r.repository, digest=r.digest,
                                          tags=list(r.tags)) for r in removal.removed],
                   remaining_tags=list(removal.remaining_tags))
