"""Namespaces: the account's namespaces the caller may see, adding one, and removing one
(a page that says what goes, confirmed by typing the name)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from iam.api.deps import RuntimeDep
from iam.api.routes import namespaces as api
from iam.console import pages, permissions
from iam.console.session import FormDep, JournalDep, VisitorDep
from iam.errors import IamError

router = APIRouter(prefix="/console/namespaces", include_in_schema=False)
FIELDS = ("name", "region", "confirm")
PAGE = 50
CREATE = "container-registry.namespace.create"
DELETE = "container-registry.namespace.delete"


def _list_page(request: Request, visitor: VisitorDep, runtime: RuntimeDep, *,
               start: str = "", problems: pages.Problems | None = None,
               form: dict[str, str] | None = None) -> HTMLResponse:
    found = api.list_namespaces(caller=visitor.principal, runtime=runtime, region=None)
    ordered = sorted(found.data, key=lambda ns: f"{ns.name}/{ns.region}")
    after = [ns for ns in ordered if not start or f"{ns.name}/{ns.region}" > start]
    shown = after[:PAGE]
    next_start = (f"{shown[-1].name}/{shown[-1].region}" if len(after) > PAGE else "")
    removable = permissions.on_namespaces(runtime, visitor.principal, DELETE,
                                          ((ns.region, ns.name) for ns in shown))
    regions = sorted({r.region for r in runtime.registries.all()})
    return pages.render(request, "namespaces.html", visitor, namespaces=shown,
                        count=found.count, next_start=next_start,
                        may_add=permissions.held_somewhere(runtime, visitor.principal, CREATE),
                        removable=removable, regions=regions, problems=problems, form=form)


@router.get("")
def read_namespaces(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                    start: str = "") -> HTMLResponse:
    """The namespaces, `PAGE` at a time in name order."""
    return _list_page(request, visitor, runtime, start=start[:128])


@router.post("", name="create_namespace")
def create_namespace(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                     journal: JournalDep) -> Response:
    try:
        api.create_namespace(form.get("name"), caller=visitor.principal, runtime=runtime,
                             journal=journal, response=Response(), region=form.get("region"))
    except IamError as exc:
        problems = pages.refused(request, exc, FIELDS)
        if problems.general and exc.target in ("namespace", None):
            problems.fields["name"] = problems.general.pop()
        return _list_page(request, visitor, runtime, problems=problems, form=form.values())
    return pages.see_other("/console/namespaces")


@router.get("/{name}/remove")
def read_namespace_removal(request: Request, name: str, visitor: VisitorDep,
                           runtime: RuntimeDep, region: str = "") -> HTMLResponse:
    """What removing the namespace does, and the form that confirms it."""
    return pages.render(request, "namespace_remove.html", visitor, name=name, region=region)


@router.post("/{name}/remove", name="delete_namespace")
def delete_namespace(request: Request, name: str, visitor: VisitorDep, form: FormDep,
                     runtime: RuntimeDep, journal: JournalDep) -> Response:
    region = form.get("region")
    if form.get("confirm") != name:
        problems = pages.Problems(fields={"confirm": f"type {name} to confirm"})
        pages.note_refusal_of(request, problems)
        return pages.render(request, "namespace_remove.html", visitor, name=name,
                            region=region, problems=problems)
    try:
        api.delete_namespace(name, caller=visitor.principal, runtime=runtime,
                             journal=journal, region=region)
    except IamError as exc:
        return pages.render(request, "namespace_remove.html", visitor, name=name,
                            region=region, problems=pages.refused(request, exc, FIELDS))
    return pages.see_other("/console/namespaces")
