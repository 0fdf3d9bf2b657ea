"""`POST /identity/token`: exchange an API key, a password or a refresh token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import JSONResponse

from iam.api.deps import ClientDep, RuntimeDep
from iam.api.schemas import IdentityToken
from iam.attempts import attempt
from iam.grants import grant_for

router = APIRouter(tags=["identity"])

# No max_length here: an over-long field must be RFC 6749's invalid_request (grants._field),
# not the admin API's 422. The body itself is capped by the middleware.
FormField = Annotated[str | None, Form()]


@router.post("/identity/token", response_model=IdentityToken,
             responses={400: {"description": "RFC 6749 error"},
                        429: {"description": "too many failed attempts; see Retry-After"}})
def create_identity_token(runtime: RuntimeDep, client: ClientDep, grant_type: FormField = None,
                          apikey: FormField = None, username: FormField = None,
                          password: FormField = None, refresh_token: FormField = None,
                          account: FormField = None) -> JSONResponse:
    """IBM-style IAM token: `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...`."""
    form = {k: v for k, v in {"apikey": apikey, "username": username, "password": password,
                              "refresh_token": refresh_token, "account": account}.items() if v}
    grant = grant_for(runtime, grant_type)
    with attempt(runtime, client, action="iam.identity.token", credential=apikey or refresh_token,
                 username=username, grant_type=grant.GRANT_TYPE) as current:
        principal, pair = grant.create_token_response(form)
        current.succeeded(principal)
    body = IdentityToken(access_token=pair.access_token, refresh_token=pair.refresh_token,
                         expires_in=pair.expires_in, expiration=pair.expiration)
    return JSONResponse(body.model_dump(), headers={"Cache-Control": "no-store"})
