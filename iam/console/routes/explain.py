"""Explain access: may this identity do this action on this resource, by which policies,
and why not. The answer comes from the API's `check_access` (audited as a decision)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.policy_schemas import AuthzCheck, Resource
from iam.api.routes import authz as api
from iam.console import pages
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError
from iam.runtime import Runtime

router = APIRouter(prefix="/console/explain", include_in_schema=False)
FIELDS = ("iam_id", "action", "region", "namespace", "repository")


def _page(request: Request, visitor: Visitor, runtime: Runtime, **context: object) -> HTMLResponse:
    actions = [a for svc in sorted(runtime.roles.services.values(), key=lambda s: s.service)
               for a in svc.actions]
    return pages.render(request, "explain.html", visitor, actions=actions, **context)  # type: ignore[arg-type]


@router.get("")
def read_explain(request: Request, visitor: VisitorDep, runtime: RuntimeDep) -> HTMLResponse:
    return _page(request, visitor, runtime,
                 form={"iam_id": visitor.principal.iam_id,
                       "action": "container-registry.image.push"})


@router.post("", name="check_access")
def check_access(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                 journal: JournalDep) -> HTMLResponse:
    action, namespace = form.get("action"), form.get("namespace")
    try:
        answer = api.check_access(AuthzCheck(
            iam_id=form.get("iam_id"), action=action, resource=Resource(
                service=action.split(".", 1)[0], region=form.get("region"),
                resource_type="namespace" if namespace else "", resource=namespace,
                repository=form.get("repository"))),
            caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        return _page(request, visitor, runtime, form=form.values(),
                     problems=pages.refused(request, exc, FIELDS))
    return _page(request, visitor, runtime, form=form.values(), answer=answer)
