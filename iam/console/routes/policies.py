"""Policies of an identity or a group: assign roles (check boxes) on a scope, change the
roles of one in place, remove one. Each goes back to the subject's page, found from the
policy itself (never from the form)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.policy_schemas import PolicyBody, PolicyPublic, Resource, Subject
from iam.api.routes import policies as api
from iam.console import group_page, identity_page, pages
from iam.console.session import Form, FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError
from iam.runtime import Runtime

router = APIRouter(prefix="/console/policies", include_in_schema=False)
FIELDS = ("roles", "region", "namespace", "repository")


def subject_page(request: Request, visitor: Visitor, runtime: Runtime, *, iam_id: str,
                 group_id: str, **extra: object) -> Response:
    if group_id:
        return group_page.render(request, visitor, runtime, group_id, **extra)  # type: ignore[arg-type]
    return identity_page.render(request, visitor, runtime, iam_id, **extra)  # type: ignore[arg-type]


def _url(iam_id: str, group_id: str) -> str:
    if group_id:
        return f"/console/groups/{group_id}"
    return identity_page.url_of(iam_id)


def _body(form: Form) -> PolicyBody:
    namespace = form.get("namespace")
    return PolicyBody(
        subject=Subject(iam_id=form.get("iam_id") or None,
                        access_group_id=form.get("access_group_id") or None),
        roles=form.getlist("roles"),
        resource=Resource(service=form.get("service"), region=form.get("region"),
                          resource_type="namespace" if namespace else "", resource=namespace,
                          repository=form.get("repository")))


def _read(request: Request, policy_id: str, visitor: Visitor, runtime: Runtime
          ) -> tuple[PolicyPublic, str, str] | Response:
    """The policy with its subject (iam_id, group id: one of them empty), or the page saying
    it is not available to the visitor."""
    try:
        policy = api.read_policy(policy_id, caller=visitor.principal, runtime=runtime,
                                 response=Response())
    except IamError as exc:
        return pages.not_available(request, exc, visitor)
    return (policy, policy.subject.get("iam_id", ""),
            policy.subject.get("access_group_id", ""))


@router.post("", name="create_policy")
def create_policy(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                  journal: JournalDep) -> Response:
    """Give the subject the checked roles on the scope."""
    iam_id, group_id = form.get("iam_id"), form.get("access_group_id")
    try:
        api.create_policy(_body(form), caller=visitor.principal, runtime=runtime,
                          journal=journal)
    except (ValidationError, IamError) as exc:
        problems = pages.refused(request, exc, FIELDS)
        service = form.get("service")
        if "roles" in problems.fields:
            problems.fields[f"roles-{service}"] = problems.fields.pop("roles")
        return subject_page(request, visitor, runtime, iam_id=iam_id, group_id=group_id,
                            problems=problems, form=form.values(),
                            form_roles={service: form.getlist("roles")})
    return pages.see_other(_url(iam_id, group_id))


@router.post("/{policy_id}/update", name="update_policy")
def update_policy(request: Request, policy_id: str, visitor: VisitorDep, form: FormDep,
                  runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Replace the policy's roles with the checked ones (its subject and scope stay), through
    the API's PUT with the entity tag the page was rendered with."""
    found = _read(request, policy_id, visitor, runtime)
    if isinstance(found, Response):
        return found
    policy, iam_id, group_id = found
    roles = form.getlist("roles")
    try:
        api.update_policy(policy_id, PolicyBody(
            subject=Subject(iam_id=iam_id or None, access_group_id=group_id or None),
            roles=roles, resource=Resource.model_validate(policy.resource)),
            caller=visitor.principal, runtime=runtime, journal=journal,
            if_match=form.get("entity_tag") or None)
    except (ValidationError, IamError) as exc:
        problems = pages.refused(request, exc, FIELDS)
        if "roles" in problems.fields:
            problems.fields[f"roles-{policy_id}"] = problems.fields.pop("roles")
        return subject_page(request, visitor, runtime, iam_id=iam_id, group_id=group_id,
                            problems=problems, edit_roles={policy_id: roles})
    return pages.see_other(_url(iam_id, group_id))


@router.post("/{policy_id}/delete", name="delete_policy")
def delete_policy(request: Request, policy_id: str, visitor: VisitorDep, form: FormDep,
                  runtime: RuntimeDep, journal: JournalDep) -> Response:
    found = _read(request, policy_id, visitor, runtime)
    if isinstance(found, Response):
        return found
    _, iam_id, group_id = found
    try:
        api.delete_policy(policy_id, caller=visitor.principal, runtime=runtime,
                          journal=journal)
    except IamError as exc:
        return subject_page(request, visitor, runtime, iam_id=iam_id, group_id=group_id,
                            problems=pages.refused(request, exc))
    return pages.see_other(_url(iam_id, group_id))
