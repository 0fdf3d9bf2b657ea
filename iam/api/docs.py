"""`/docs` (Swagger UI) and `/redoc` (ReDoc) from local assets, working with no network.

FastAPI's own pages load both from a CDN and start Swagger UI with an inline script. Here the
bundles come from the `fastapi-offline` package (installed with the service, served under
`/docs/assets/`), Swagger UI is started by a small script of ours beside them, and both pages
stand under a Content-Security-Policy without inline script or any other origin
(`api.middleware.DOCS_CSP`).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"
_BUNDLES = Path(str(files("fastapi_offline") / "static"))
_OWN = Path(__file__).with_name("docs_assets")

_SWAGGER = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>registry-iam API</title>
<link rel="icon" href="{ASSETS}/favicon.png">
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/own/swagger-init.js"></script></body></html>"""

_REDOC = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>registry-iam API (ReDoc)</title>
<link rel="icon" href="{ASSETS}/favicon.png"></head>
<body><redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script></body></html>"""


def install(app: FastAPI) -> None:
    """Serve `/docs`, `/redoc` and their assets (none of them in the OpenAPI document)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(_SWAGGER)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(_REDOC)

    app.mount(f"{ASSETS}/own", StaticFiles(directory=_OWN), name="docs-own")
    app.mount(ASSETS, StaticFiles(directory=_BUNDLES), name="docs-assets")
