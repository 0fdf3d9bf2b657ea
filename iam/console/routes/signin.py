"""Signing in and out, and the console's front page.

Sign-in takes an API key or a user name and password through `/identity/token`'s own grants
(`runtime.identity_tokens`) inside the same failure limiter and audit as every other
authentication (`runtime.attempts`, action `iam.console.signin`): the same answer for every
bad credential, 429 with `Retry-After` over the limits. A success opens a new session (a new
id whatever cookie came along; the old one, if any, is closed) and redirects to the front
page, so the credential never stays in a page or the browser's history.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from iam.api.deps import RuntimeDep
from iam.audit.trail import Event
from iam.console import pages
from iam.console.session import (
    COOKIE,
    SIGNIN_COOKIE,
    VisitorDep,
    clear_cookie,
    client_of,
    get_form,
    new_pre_session,
    set_cookie,
    signin_form_ok,
    signin_token,
)
from iam.errors import IamError, InvalidTokenRequest, RateLimited, Unauthenticated
from iam.identity import console_sessions
from iam.identity.authn import Principal
from iam.runtime import Runtime
from iam.store.generation_cache import lazy_session
from iam.tokens.oauth_grants import APIKEY_GRANT

router = APIRouter(prefix="/console", include_in_schema=False)
SIGNIN = "iam.console.signin"
SIGNOUT = "iam.console.signout"
FIELDS = ("apikey", "username", "password")
BAD_CREDENTIALS = "The API key, or the user name and password, are not valid."


def _signin_page(request: Request, runtime: Runtime, *, status: int = 200,
                 problems: pages.Problems | None = None, notice: str = "",
                 form: dict[str, str] | None = None) -> HTMLResponse:
    pre = request.cookies.get(SIGNIN_COOKIE, "")
    fresh = not pre or len(pre) > 64
    if fresh:
        pre = new_pre_session()
    response = pages.render(request, "signin.html", None, status=status, problems=problems,
                            form=form, notice=notice,
                            signin_token=signin_token(pre, runtime.secret))
    if fresh:
        set_cookie(response, request, runtime, SIGNIN_COOKIE, pre)
    return response


@router.get("/signin")
def read_signin(request: Request, runtime: RuntimeDep, ended: bool = False,
                signed_out: bool = False) -> HTMLResponse:
    """The sign-in form."""
    notice = ("Your session has ended; sign in again." if ended else
              "You are signed out." if signed_out else "")
    return _signin_page(request, runtime, notice=notice)


def _authenticate(runtime: Runtime, request: Request, fields: dict[str, str]) -> Principal:
    """The principal behind the form's API key or password, as `/identity/token` decides."""
    by_key = bool(fields.get("apikey"))
    grant = runtime.identity_tokens.grant_for(APIKEY_GRANT if by_key else "password")
    with runtime.attempts.attempt(
            client_of(request, runtime), action=SIGNIN,
            credential=fields.get("apikey") if by_key else None,
            username=None if by_key else fields.get("username", ""),
            grant_type=grant.GRANT_TYPE) as current:
        with lazy_session(runtime.read, True) as session:
            principal = grant.authenticate(session, fields)
        current.succeeded(principal)
    return principal


@router.post("/signin")
async def create_signin(request: Request, runtime: RuntimeDep) -> Response:
    """Check the credential, open a new session, set its cookie."""
    data = await request.form()
    fields = {name: value for name in FIELDS
              if isinstance(value := data.get(name), str) and value}
    token = data.get("signin_token")
    if not isinstance(token, str) or not signin_form_ok(request, runtime, token):
        return pages.message(request, "Request refused",
                             "This sign-in form has expired or did not come from this "
                             "console. Reload the page and try again.", status=403)
    form = {"username": fields.get("username", "")}
    try:
        principal = await run_in_threadpool(_authenticate, runtime, request, fields)
        opened = await run_in_threadpool(_open, runtime, request, principal)
    except (Unauthenticated, RateLimited, InvalidTokenRequest) as exc:
        problems = pages.Problems(status=401, general=[BAD_CREDENTIALS])
        if isinstance(exc, RateLimited):
            problems = pages.Problems(status=429, retry_after=exc.retry_after, general=[
                f"Too many failed sign-ins from your address; try again in "
                f"{exc.retry_after} s."])
        elif isinstance(exc, InvalidTokenRequest):
            problems = pages.problems_of(exc, FIELDS)
            if exc.target in FIELDS and not problems.fields:
                problems.fields[str(exc.target)] = exc.message
        return _signin_page(request, runtime, problems=problems, form=form)
    except IamError as exc:
        return _signin_page(request, runtime, problems=pages.problems_of(exc, FIELDS),
                            form=form)
    response = pages.see_other("/console")
    set_cookie(response, request, runtime, COOKIE, opened.token)
    clear_cookie(response, request, runtime, SIGNIN_COOKIE)
    return response


def _open(runtime: Runtime, request: Request,
          principal: Principal) -> console_sessions.Opened:
    """A new session; the one the browser came with (if any) is closed first."""
    with runtime.write() as session:
        old = request.cookies.get(COOKIE, "")
        if old:
            console_sessions.close_session(session, secret=runtime.secret, token=old)
        return console_sessions.open_session(
            session, secret=runtime.secret, principal=principal,
            lifetime=runtime.settings.console_session_seconds,
            idle=runtime.settings.console_idle_seconds)


@router.post("/signout")
async def create_signout(request: Request, runtime: RuntimeDep, visitor: VisitorDep) -> Response:
    """Close the session on the server (every copy of the cookie dies with it)."""
    await get_form(request, visitor)  # the anti-forgery check
    token = request.cookies.get(COOKIE, "")

    def close() -> None:
        with runtime.write() as session:
            console_sessions.close_session(session, secret=runtime.secret, token=token)

    await run_in_threadpool(close)
    client = client_of(request, runtime)
    runtime.audit.record(Event(
        action=SIGNOUT, outcome="success", account_id=visitor.principal.account_id,
        actor=visitor.principal.iam_id, client_ip=client.ip, user_agent=client.user_agent,
        detail={"session_id": visitor.session_id}))
    response = pages.see_other("/console/signin?signed_out=1")
    clear_cookie(response, request, runtime, COOKIE)
    return response


@router.get("")
def read_home(request: Request, visitor: VisitorDep) -> HTMLResponse:
    """Who is signed in, and where to go."""
    return pages.render(request, "home.html", visitor)
