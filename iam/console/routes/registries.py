"""The system operator's registries page: every registry (service, region, URL, TLS, delete,
trust mode), adding one, changing one, removing one. Others see the list without the
operator-only detail and no form (the API refuses their writes anyway)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.registry_schemas import RegistryCreate, RegistryUpdate
from iam.api.routes import registries as api
from iam.console import pages
from iam.console.session import Form, FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError
from iam.runtime import Runtime

router = APIRouter(prefix="/console/operator/registries", include_in_schema=False)
FIELDS = ("service", "region", "url", "ca_file", "trust")


def _page(request: Request, visitor: Visitor, runtime: Runtime, *,
          problems: pages.Problems | None = None, form: dict[str, str] | None = None,
          editing: str = "") -> HTMLResponse:
    found = api.list_registries(caller=visitor.principal, runtime=runtime, limit=1000,
                                pagestart=None)
    return pages.render(request, "operator_registries.html", visitor, found=found,
                        problems=problems, form=form, editing=editing)


def _settings(form: Form) -> dict[str, Any]:
    return {"region": form.get("region"), "url": form.get("url"),
            "ca_file": form.get("ca_file") or None, "tls_verify": bool(form.get("tls_verify")),
            "delete_enabled": bool(form.get("delete_enabled")),
            "trust": form.get("trust") or "bundle"}


@router.get("")
def read_registries(request: Request, visitor: VisitorDep, runtime: RuntimeDep) -> HTMLResponse:
    return _page(request, visitor, runtime)


@router.post("", name="create_registry")
def create_registry(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                    journal: JournalDep) -> Response:
    try:
        api.create_registry(RegistryCreate(service=form.get("service"), **_settings(form)),
                            caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        return _page(request, visitor, runtime, form=form.values(),
                     problems=pages.refused(request, exc, FIELDS))
    return pages.see_other("/console/operator/registries")


@router.post("/{service}/update", name="update_registry")
def update_registry(request: Request, service: str, visitor: VisitorDep, form: FormDep,
                    runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.update_registry(service, RegistryUpdate(**_settings(form)),
                            caller=visitor.principal, runtime=runtime, journal=journal,
                            if_match=form.get("entity_tag") or None)
    except (ValidationError, IamError) as exc:
        return _page(request, visitor, runtime, form=form.values(), editing=service,
                     problems=pages.refused(request, exc, FIELDS))
    return pages.see_other("/console/operator/registries")


@router.post("/{service}/delete", name="delete_registry")
def delete_registry(request: Request, service: str, visitor: VisitorDep, form: FormDep,
                    runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.delete_registry(service, caller=visitor.principal, runtime=runtime,
                            journal=journal)
    except IamError as exc:
        return _page(request, visitor, runtime, problems=pages.refused(request, exc))
    return pages.see_other("/console/operator/registries")
