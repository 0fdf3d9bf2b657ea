"""The console's pages, one module per subject; `ROUTERS` lists them for `console.app`."""

from __future__ import annotations

from iam.console.routes import (
    apikeys,
    audit,
    explain,
    groups,
    images,
    namespaces,
    operator,
    policies,
    registries,
    serviceids,
    signin,
    users,
)

ROUTERS = [signin.router, namespaces.router, images.router, serviceids.router, users.router,
           apikeys.router, groups.router, policies.router, explain.router, audit.router,
           operator.router, registries.router]
