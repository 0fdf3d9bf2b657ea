"""The page of one identity, a service ID or a user: its facts, its API keys with their
activity, its policies, and the forms of what the signed-in identity may do with them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from iam.api.errors import status_of
from iam.api.routes import apikeys as keys_api
from iam.api.routes import serviceids as serviceids_api
from iam.api.routes import users as users_api
from iam.console import pages, permissions, policy_view
from iam.console.session import Visitor
from iam.errors import Forbidden, IamError
from iam.identity.authn import kind_of
from iam.registry.content.references import host_of
from iam.runtime import Runtime

SERVICE_ID_ACTIONS = ("iam-identity.serviceid.update", "iam-identity.serviceid.lock",
                      "iam-identity.serviceid.delete", "iam-identity.apikey.create",
                      "iam-identity.apikey.update", "iam-identity.apikey.lock",
                      "iam-identity.apikey.delete")
USER_ACTIONS = ("iam-identity.user.update", "iam-identity.user.delete")


def url_of(iam_id: str) -> str:
    """The console page of an identity."""
    return ("/console/serviceids/" if kind_of(iam_id) == "ServiceId"
            else "/console/users/") + iam_id


def registry_hosts(runtime: Runtime) -> list[str]:
    """What `docker login` names: each registry's host, where its URL is known."""
    hosts = sorted({host_of(r) for r in runtime.registries.all() if r.url})
    return hosts or ["<registry host>"]


def render(request: Request, visitor: Visitor, runtime: Runtime, iam_id: str, *,
           problems: pages.Problems | None = None, form: dict[str, str] | None = None,
           **extra: Any) -> HTMLResponse:
    caller = visitor.principal
    kind = kind_of(iam_id)
    try:
        entity: Any = (serviceids_api.read_service_id(iam_id, caller, runtime, Response())
                       if kind == "ServiceId"
                       else users_api.read_user(iam_id, caller, runtime, Response()))
    except IamError as exc:
        return pages.message(request, "Not available", exc.message, status=status_of(exc),
                             visitor=visitor)
    try:
        keys: Any = keys_api.list_api_keys(caller=caller, runtime=runtime, iam_id=iam_id,
                                           limit=1000, pagestart=None)
    except Forbidden:
        keys = None
    own = caller.iam_id == iam_id
    may = permissions.allowed(runtime, caller,
                              *(SERVICE_ID_ACTIONS if kind == "ServiceId" else USER_ACTIONS))
    if kind == "User":  # a user's keys are managed with user.update (or are one's own)
        for action in ("iam-identity.apikey.create", "iam-identity.apikey.update",
                       "iam-identity.apikey.lock", "iam-identity.apikey.delete"):
            may[action] = own or may["iam-identity.user.update"]
    return pages.render(
        request, "identity.html", visitor, problems=problems, form=form, kind=kind,
        entity=entity, keys=keys, may=may, own=own,
        policies=policy_view.of_subject(runtime, caller, iam_id=iam_id),
        grantable=policy_view.grantable(runtime, caller), subject={"iam_id": iam_id},
        base=url_of(iam_id),
        docker_hosts=registry_hosts(runtime), **{"form_roles": {}, "edit_roles": {}, **extra})


def act(request: Request, visitor: Visitor, runtime: Runtime, iam_id: str,
        change: Callable[[], object], *, then: str = "") -> Response:
    """One change of the identity with no fields (lock, unlock, delete: an API route
    function called by `change`): the page again with the refusal, or on to `then` (the
    identity's page by default)."""
    try:
        change()
    except IamError as exc:
        return render(request, visitor, runtime, iam_id, problems=pages.refused(request, exc))
    return pages.see_other(then or url_of(iam_id))
