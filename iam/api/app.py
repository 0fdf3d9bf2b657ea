"""The application factory."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from typing import Any, ClassVar

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from iam import __version__
from iam.api import docs, errors, offload, openapi
from iam.api.audit_middleware import AuditChanges
from iam.api.fast_routes import FastRoute
from iam.api.middleware import (
    BodyTooLarge,
    LimitsAndHeaders,
    StatusWatch,
    add_security_headers,
    read_body,
    refuse_too_large,
    replay,
)
from iam.api.routes import (
    accounts,
    apikeys,
    health,
    identity_token,
    images,
    metrics,
    serviceids,
    users,
)
from iam.api.routes import audit as audit_routes
from iam.api.routes import authz as authz_routes
from iam.api.routes import groups as groups_routes
from iam.api.routes import issuers as issuers_routes
from iam.api.routes import namespace_reservations as reservations_routes
from iam.api.routes import namespaces as namespaces_routes
from iam.api.routes import policies as policies_routes
from iam.api.routes import profiles as profiles_routes
from iam.api.routes import registries as registries_routes
from iam.api.routes import registry as registry_routes
from iam.config import Settings, load_settings
from iam.metrics.instruments import RouteMetrics
from iam.runtime import Runtime

ROUTERS = [health.router, metrics.router, accounts.router, serviceids.router,
           apikeys.router, users.router, namespaces_routes.router, policies_routes.router,
           groups_routes.router, authz_routes.router, registry_routes.router,
           audit_routes.router, reservations_routes.router, images.router,
           registries_routes.router, issuers_routes.router, profiles_routes.router]
# Routers that answer errors in the admin API's shape (the others speak OAuth or the
# registry's format, and document their own errors).
ADMIN_ROUTERS = {id(r) for r in (accounts.router, serviceids.router, apikeys.router,
                                 users.router, namespaces_routes.router,
                                 policies_routes.router, groups_routes.router,
                                 authz_routes.router, audit_routes.router,
                                 reservations_routes.router, images.router,
                                 registries_routes.router, issuers_routes.router,
                                 profiles_routes.router)}
# Routes served ahead of FastAPI's middleware and router, each declared once in its module.
FAST_ROUTES = (*registry_routes.FAST_ROUTES, *identity_token.FAST_ROUTES)
#: The request counter's `method` label: anything else a client sends is `OTHER`.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the `route` label of a path no route serves (a 404)


@cache
def route_table() -> tuple[BaseRoute, ...]:
    """Every router, included once per process with the error responses it documents.

    FastAPI analyses a router's endpoints (signatures, dependencies, response models) the
    first time a request reaches it, about 45 ms of CPU per router; an app built on this
    table reuses that work, so the apps a test process builds after the first start warm.
    The routes hold no state of an app: endpoints find the runtime through the request."""
    table = APIRouter()
    for router in ROUTERS:
        table.include_router(router, responses=errors.CONTENT_PROBLEMS
                             if router is images.router
                             else errors.PROBLEM_RESPONSES if id(router) in ADMIN_ROUTERS
                             else errors.REQUEST_PROBLEMS)
    return tuple(table.routes)


class RegistryIAM(FastAPI):
    """The FastAPI app, with the token endpoints (`FAST_ROUTES`: `GET /token`, `POST /token`,
    every docker or skopeo pull and push; `POST /identity/token`, every CLI and CI login)
    served ahead of its middleware and router, with the same body limit, security headers
    and error mapping (in the format each route names) by direct calls, and documented from
    their declarations. Eight middleware layers, per-parameter validation and a thread hop
    were most of a token's cost (BENCHMARKS.md); the admin API keeps all of them."""

    HOT: ClassVar[dict[tuple[str, str], FastRoute]] = {
        (route.method, route.path): route for route in FAST_ROUTES}
    #: Each fast route with its request counter and latency histogram (`instrument`).
    served: dict[tuple[str, str], tuple[FastRoute, RouteMetrics]]
    #: The request counters of the other routes, by (route template, method).
    routed: dict[tuple[str, str], RouteMetrics]
    #: With a separate metrics port (`IAM_METRICS_PORT`): that port serves `/metrics` only,
    #: and the service's port everything but.
    metrics_port: int | None = None

    def instrument(self, runtime: Runtime) -> None:
        self.served = {key: (route, runtime.metrics.route(route.path, route.method,
                                                         latency=True))
                       for key, route in self.HOT.items()}
        self.routed = {}
        self.metrics_port = runtime.settings.metrics_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        if self.metrics_port is not None and not self._on_its_port(scope):
            await errors.problem(404, "not_found", "Not Found")(scope, receive, send)
            return
        served = self.served.get((scope["method"], scope["path"]))
        if served is None:
            await self._routed(scope, receive, send)
            return
        route, counted = served
        scope["app"] = self
        limit = self.state.runtime.settings.max_body_bytes
        try:
            body = await read_body(scope, receive, limit)
        except BodyTooLarge:
            await refuse_too_large(send, limit)
            counted.answered(413, time.perf_counter() - started)
            return
        if body is None:
            return  # the client went away
        request = Request(scope, replay(body, receive))
        try:
            response = await route.endpoint(request)
        except Exception as exc:  # in the route's format, else as the exception middleware
            response = await errors.answer_for(self, request, exc, route.errors)
        add_security_headers(response.raw_headers)
        await response(scope, receive, send)
        counted.answered(response.status_code, time.perf_counter() - started)

    def _on_its_port(self, scope: Scope) -> bool:
        """`/metrics` on the metrics port, anything else on the other."""
        port = (scope.get("server") or ("", None))[1]
        return bool((port == self.metrics_port) == (scope["path"] == metrics.PATH))

    async def _routed(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Through FastAPI, counted by the template of the route that matched."""
        watch = StatusWatch(send)
        try:
            await super().__call__(scope, receive, watch)
        finally:
            route = scope.get("route")
            method = scope["method"] if scope["method"] in METHODS else "OTHER"
            key = (getattr(route, "path", None) or UNMATCHED, method)
            counted = self.routed.get(key)
            if counted is None:
                counted = self.routed[key] = self.state.runtime.metrics.route(*key)
            counted.answered(watch.status, 0.0)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            openapi.add_fast_routes(super().openapi(), FAST_ROUTES)
        return self.openapi_schema  # type: ignore[return-value]


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
        app.state.content_limiter = offload.content_limiter()
        runtime.start_background()
        # Everything built so far (routes, models, metadata) lives as long as the process:
        # out of the collector's sight, full collections no longer walk it on the hot path.
        gc.freeze()
        try:
            yield
        finally:
            runtime.close()

    app = RegistryIAM(title="registry-iam", version=__version__, lifespan=lifespan,
                      routes=list(route_table()),
                      docs_url=None, redoc_url=None,  # local assets instead: iam.api.docs
                      description="IAM for container registries: service IDs, API keys, "
                                  "policies and registry tokens.")
    app.state.runtime = runtime
    app.instrument(runtime)
    errors.install(app)
    docs.install(app)
    app.add_middleware(AuditChanges, trail=runtime.audit,
                       trusted=runtime.settings.trusted_networks)
    app.add_middleware(LimitsAndHeaders, max_body=runtime.settings.max_body_bytes)
    return app
