"""Request and response shapes of namespaces, policies, access groups and the explain call.

A policy keeps IBM's JSON shape: `{"subject": {"iam_id"} | {"access_group_id"}, "roles":
[...], "resource": {"service", "region", "resource_type", "resource", "repository"}}`;
omitted resource keys mean "any".
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictStr

from iam.access.policies import PolicySpec
from iam.api.schemas import NamedCreate, NamedUpdate, Public, Strict
from iam.registry.namespace_listing import ListedNamespace
from iam.registry.namespace_removal import RemovalStatus
from iam.store.models import GroupMember, Policy


class NamespacePublic(Public):
    name: str
    region: str
    account_id: str
    state: str = Field(description="`active`, or `deleting` while its images are removed "
                                   "(push is withheld; the name is not free yet)")
    created_at: datetime


class NamespaceListed(NamespacePublic):
    """A namespace with what the registries of its region hold of it (`counts=true`)."""

    repositories: int | None = Field(default=None, description="Repositories with tags; "
                                     "null when not counted or a registry could not be read")
    images: int | None = Field(default=None, description="Distinct manifests tagged")
    size: int | None = Field(default=None, description="Bytes: config and layers of each "
                                                        "image, per platform for an index")
    counts_note: str | None = Field(default=None, description="Why counts are missing "
                                                              "or partial")
    release_after: datetime | None = Field(
        default=None, description="While deleting: the earliest time its name is released")
    last_error: str | None = Field(default=None, description="While deleting: why the last "
                                                             "attempt did not finish")

    @classmethod
    def listed(cls, found: ListedNamespace) -> NamespaceListed:
        c = found.counts
        return cls.model_validate({
            **NamespacePublic.of(found.namespace).model_dump(), "repositories": c.repositories,
            "images": c.images, "size": c.size, "counts_note": c.note,
            "release_after": found.release_after, "last_error": found.last_error})


class DeletedImagePublic(BaseModel):
    repository: str
    digest: str
    tags: list[str] = Field(description="The tags that went with the digest")


class RegistrySweepPublic(BaseModel):
    """What one registry's sweep did in the last attempt."""

    registry: str
    deleted: list[DeletedImagePublic]
    remaining: list[str] = Field(description="Repositories still holding images")
    error: str | None = None
    permanent: bool = Field(description="Trying again cannot help (no URL, deletes "
                                        "refused): the name stays reserved to its account")


class NamespaceRemovalPublic(BaseModel):
    """Where a namespace removal stands. `deleting`: images are being removed, or the name
    waits until no registry token granted before the deletion can push (`release_after`);
    `deleted`: the namespace is gone and its name released; `reserved`: gone, its name kept
    for its account because some registry could not be emptied."""

    name: str
    region: str
    state: str
    started_at: datetime
    release_after: datetime
    attempts: int
    last_error: str | None = None
    running: bool = Field(description="An attempt is still running")
    registries: list[RegistrySweepPublic] = Field(
        description="What the attempt made for this request did, per registry")
    images_deleted: int

    @classmethod
    def of(cls, status: RemovalStatus) -> NamespaceRemovalPublic:
        sweeps = [RegistrySweepPublic(
            registry=s.registry, remaining=list(s.remaining), error=s.error or None,
            permanent=s.permanent,
            deleted=[DeletedImagePublic(repository=d.repository, digest=d.digest,
                                        tags=list(d.tags)) for d in s.deleted])
            for s in status.sweeps]
        return cls(name=status.name, region=status.region, state=status.state,
                   started_at=status.started_at, release_after=status.release_after,
                   attempts=status.attempts, last_error=status.last_error or None,
                   running=status.running, registries=sweeps,
                   images_deleted=sum(len(s.deleted) for s in status.sweeps))


class Subject(Strict):
    iam_id: StrictStr | None = Field(default=None, max_length=128)
    access_group_id: StrictStr | None = Field(default=None, max_length=128)


class Resource(Strict):
    service: StrictStr = Field(max_length=64)
    region: StrictStr = Field(default="", max_length=64)
    resource_type: StrictStr = Field(default="", max_length=64)
    resource: StrictStr = Field(default="", max_length=256)
    repository: StrictStr = Field(default="", max_length=256)


class PolicyBody(Strict):
    subject: Subject
    roles: list[StrictStr] = Field(max_length=32)
    resource: Resource

    def spec(self) -> PolicySpec:
        r = self.resource
        return PolicySpec(roles=tuple(dict.fromkeys(self.roles)), service=r.service,
                          subject_iam_id=self.subject.iam_id,
                          subject_group_id=self.subject.access_group_id, region=r.region,
                          resource_type=r.resource_type, resource=r.resource,
                          repository=r.repository)


class PolicyPublic(BaseModel):
    id: str
    account_id: str
    subject: dict[str, str]
    roles: list[str]
    resource: dict[str, str] = Field(description="Omitted keys mean any")
    created_by: str
    created_at: datetime
    modified_at: datetime
    entity_tag: str

    @classmethod
    def of(cls, row: Policy) -> PolicyPublic:
        subject = ({"iam_id": row.subject_iam_id} if row.subject_iam_id
                   else {"access_group_id": row.subject_group_id or ""})
        resource = {k: v for k, v in (("service", row.service), ("region", row.region),
                                      ("resource_type", row.resource_type),
                                      ("resource", row.resource),
                                      ("repository", row.repository)) if v}
        return cls(id=row.id, account_id=row.account_id, subject=subject,
                   roles=[r for r in row.roles.split(",") if r], resource=resource,
                   created_by=row.created_by, created_at=row.created_at,
                   modified_at=row.modified_at, entity_tag=row.entity_tag)


class GroupCreate(NamedCreate):
    pass


class GroupUpdate(NamedUpdate):
    pass


class GroupPublic(Public):
    id: str
    account_id: str
    name: str
    description: str
    created_at: datetime
    modified_at: datetime
    entity_tag: str


class MemberAdd(Strict):
    iam_id: StrictStr = Field(max_length=128)


class MemberPublic(BaseModel):
    iam_id: str
    type: str
    created_at: datetime

    @classmethod
    def of(cls, row: GroupMember) -> MemberPublic:
        kind = ("ServiceId" if row.iam_id.startswith("iam-ServiceId-")
                else "Profile" if row.iam_id.startswith("iam-Profile-") else "User")
        return cls(iam_id=row.iam_id, type=kind, created_at=row.created_at)


class AuthzCheck(Strict):
    iam_id: StrictStr = Field(max_length=128)
    action: StrictStr = Field(max_length=128)
    resource: Resource


class GrantedBy(BaseModel):
    policy_id: str
    roles: list[str]


class AuthzAnswer(BaseModel):
    allowed: bool
    granted_by: list[GrantedBy]
    reason: str
