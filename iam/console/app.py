"""The served app: the admin API (`iam.api.app`) with the console mounted at `/console`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from iam.api.app import create_app as create_api
from iam.config import Settings
from iam.console import pages
from iam.console.routes import ROUTERS
from iam.console.session import COOKIE, ForgedRequest, SignInRequired, clear_cookie, note_refusal
from iam.runtime import Runtime

STATIC = Path(__file__).with_name("static")


async def _sign_in_first(request: Request, exc: Exception) -> Response:
    """A page without a live session: the sign-in form (a form: a page saying so)."""
    assert isinstance(exc, SignInRequired)
    if request.method == "GET":
        target = "/console/signin" + ("?ended=1" if exc.ended else "")
        response: Response = RedirectResponse(target, status_code=303)
    else:
        response = pages.message(request, "Sign in again",
                                 "Your session has ended. Sign in again, then repeat what "
                                 "you were doing.", status=401)
    if request.cookies.get(COOKIE):
        clear_cookie(response, request, request.app.state.runtime, COOKIE)
    return response


async def _forged(request: Request, exc: Exception) -> Response:
    note_refusal(request, "the form's anti-forgery token is missing or wrong")
    return pages.message(request, "Request refused",
                         "This form did not come from this console (its anti-forgery token "
                         "is missing or wrong). Reload the page and try again.", status=403)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """`iam serve`'s factory: the API and the console in one app."""
    app = create_api(settings, runtime)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(ForgedRequest, _forged)
    return app
