"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from iam import __version__
from iam.api import errors
from iam.api.audit_middleware import AuditChanges
from iam.api.middleware import LimitsAndHeaders
from iam.api.routes import accounts, apikeys, health, identity_token, serviceids, users
from iam.api.routes import audit as audit_routes
from iam.api.routes import authz as authz_routes
from iam.api.routes import groups as groups_routes
from iam.api.routes import namespaces as namespaces_routes
from iam.api.routes import policies as policies_routes
from iam.api.routes import registry as registry_routes
from iam.config import Settings, load_settings
from iam.runtime import Runtime

ROUTERS = [health.router, identity_token.router, accounts.router, serviceids.router,
           apikeys.router, users.router, namespaces_routes.router, policies_routes.router,
           groups_routes.router, authz_routes.router, registry_routes.router,
           audit_routes.router]
# Routers that answer errors in the admin API's shape (the others speak OAuth or the
# registry's format, and document their own errors).
ADMIN_ROUTERS = {id(r) for r in (accounts.router, serviceids.router, apikeys.router,
                                 users.router, namespaces_routes.router,
                                 policies_routes.router, groups_routes.router,
                                 authz_routes.router, audit_routes.router)}


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; configuration problems raise ConfigurationError before it serves."""
    runtime = runtime or Runtime.start(settings or load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool (40 threads by default). Dozens of threads
        # taking turns on one interpreter lock burn CPU on hand-offs; a few are enough to
        # overlap database waits (see BENCHMARKS.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            runtime.settings.worker_threads)
        runtime.start_background()
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="registry-iam", version=__version__, lifespan=lifespan,
                  description="IAM for container registries: service IDs, API keys, "
                              "policies and registry tokens.")
    app.state.runtime = runtime
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=errors.PROBLEM_RESPONSES
                           if id(router) in ADMIN_ROUTERS else errors.REQUEST_PROBLEMS)
    app.add_middleware(AuditChanges, trail=runtime.audit)
    app.add_middleware(LimitsAndHeaders, max_body=runtime.settings.max_body_bytes)
    return app
