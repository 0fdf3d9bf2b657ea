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
from iam.store.models import GroupMember, Policy


class NamespacePublic(Public):
    name: str
    region: str
    account_id: str
    created_at: datetime


class NamespaceList(BaseModel):
    data: list[NamespacePublic]
    count: int


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


class MemberList(BaseModel):
    data: list[MemberPublic]
    count: int


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
