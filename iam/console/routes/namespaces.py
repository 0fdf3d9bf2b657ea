"""Namespaces: the account's namespaces the caller may see (state; repositories, images and
size counted in the registries on demand), adding one, and removing one with its images (a
page that says what goes, confirmed by typing the name; the answer is the removal's report)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from iam.api.deps import RuntimeDep
from iam.api.policy_schemas import NamespaceListed
from iam.api.routes import namespaces as api
from iam.console import pages, permissions
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError
from iam.runtime import Runtime

router = APIRouter(prefix="/console/namespaces", include_in_schema=False)
FIELDS = ("name", "region", "confirm")
PAGE = 50
CREATE = "container-registry.namespace.create"
DELETE = "container-registry.namespace.delete"


async def _list_page(request: Request, visitor: Visitor, runtime: Runtime, *,
                     pagestart: str = "", before: pages.Before = None, counts: bool = False,
                     problems: pages.Problems | None = None,
                     form: dict[str, str] | None = None) -> HTMLResponse:
    found = await api.list_namespaces(request, visitor.principal, runtime, region=None,
                                      counts=counts, limit=PAGE, pagestart=pagestart or None)
    removable = permissions.on_namespaces(runtime, visitor.principal, DELETE,
                                          ((ns.region, ns.name) for ns in found.data))
    regions = sorted({r.region for r in runtime.registries.all()})
    pager = pages.Pager.of("/console/namespaces", pagestart=pagestart, before=before,
                           next_start=found.next_pagestart,
                           **({"counts": "true"} if counts else {}))
    with_counts = pages.Pager.of("/console/namespaces", pagestart=pagestart, before=before,
                                 next_start=None, counts="true").here
    return pages.render(request, "namespaces.html", visitor, namespaces=found.data,
                        count=found.count, counted=counts, pager=pager,
                        with_counts=with_counts,
                        may_add=permissions.held_somewhere(runtime, visitor.principal, CREATE),
                        removable=removable, regions=regions, problems=problems, form=form)


@router.get("")
async def read_namespaces(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                          pagestart: str = "", counts: bool = False,
                          before: pages.Before = None) -> HTMLResponse:
    """The namespaces, `PAGE` at a time in (region, name) order (the API's pages); with
    `counts`, what the registries hold of each shown (repositories, images, size)."""
    return await _list_page(request, visitor, runtime, pagestart=pagestart[:128],
                            before=before, counts=counts)


@router.post("", name="create_namespace")
async def create_namespace(request: Request, visitor: VisitorDep, form: FormDep,
                           runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        await run_in_threadpool(
            api.create_namespace, form.get("name"), caller=visitor.principal,
            runtime=runtime, journal=journal, response=Response(), region=form.get("region"))
    except IamError as exc:
        problems = pages.refused(request, exc, FIELDS)
        if problems.general and exc.target in ("namespace", None):
            problems.fields["name"] = problems.general.pop()
        return await _list_page(request, visitor, runtime, problems=problems,
                                form=form.values())
    return pages.see_other("/console/namespaces")


async def _removal_page(request: Request, visitor: Visitor, runtime: Runtime, *, name: str,
                        region: str, problems: pages.Problems | None = None) -> HTMLResponse:
    try:
        found: NamespaceListed | None = await api.get_namespace(
            request, name, visitor.principal, runtime, region=region, counts=True)
    except IamError as exc:
        found, problems = None, problems or pages.problems_of(exc)
    return pages.render(request, "namespace_remove.html", visitor, name=name, region=region,
                        found=found, problems=problems)


@router.get("/{name}/remove")
async def read_namespace_removal(request: Request, name: str, visitor: VisitorDep,
                                 runtime: RuntimeDep, region: str = "") -> HTMLResponse:
    """What removing the namespace deletes (its repositories, images and size, counted in
    the registries), and the form that confirms it by its name."""
    return await _removal_page(request, visitor, runtime, name=name, region=region[:64])


@router.post("/{name}/remove", name="delete_namespace")
async def delete_namespace(request: Request, name: str, visitor: VisitorDep, form: FormDep,
                           runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Remove the namespace with its images (the API's namespace-rm); the answer is its
    report: deleted, or deleting while registries are emptied and its name waits."""
    region = form.get("region")
    if form.get("confirm") != name:
        problems = pages.Problems(fields={"confirm": f"type {name} to confirm"})
        pages.note_refusal_of(request, problems)
        return await _removal_page(request, visitor, runtime, name=name, region=region,
                                   problems=problems)
    try:
        report = await api.delete_namespace(request, name, visitor.principal, runtime,
                                            journal, Response(), region=region)
    except IamError as exc:
        return await _removal_page(request, visitor, runtime, name=name, region=region,
                                   problems=pages.refused(request, exc, FIELDS))
    return pages.render(request, "namespace_removed.html", visitor, report=report)
