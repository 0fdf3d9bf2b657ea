"""`/v1/issuers`: the OIDC issuers whose workload tokens the account's claim rules accept."""

from __future__ import annotations

from fastapi import APIRouter, Response

from iam.access import guard
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.federation_schemas import IssuerCreate, IssuerPublic, IssuerUpdate
from iam.api.schemas import Page, page_of
from iam.federation import issuers

router = APIRouter(prefix="/v1/issuers", tags=["issuers"])
MANAGE = "iam-identity.issuer.manage"
READ = "iam-identity.issuer.get"


@router.post("", status_code=201)
def create_issuer(body: IssuerCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                  journal: JournalDep) -> IssuerPublic:
    """Register an issuer: https unless `allow_http`; keys by discovery unless `jwks`."""
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, MANAGE)
        row = issuers.create_issuer(
            session, journal=journal, account_id=caller.account_id, url=body.url,
            audiences=body.audiences, algorithms=body.algorithms, jwks=body.jwks,
            allow_http=body.allow_http, max_token_age=body.max_token_age,
            description=body.description)
    return IssuerPublic.of(row)


@router.get("")
def list_issuers(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
                 pagestart: PageStart = None) -> Page[IssuerPublic]:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, READ)
        found = issuers.list_issuers(session, account_id=caller.account_id, limit=limit,
                                     start=pagestart)
    return page_of(found, IssuerPublic.of, limit=limit)


@router.get("/{issuer_id}")
def read_issuer(issuer_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                response: Response) -> IssuerPublic:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, READ)
        row = issuers.get_issuer(session, account_id=caller.account_id, issuer_id=issuer_id)
    response.headers["ETag"] = row.entity_tag
    return IssuerPublic.of(row)


@router.put("/{issuer_id}")
def update_issuer(issuer_id: str, body: IssuerUpdate, caller: CurrentPrincipal,
                  runtime: RuntimeDep, journal: JournalDep,
                  if_match: IfMatch = None) -> IssuerPublic:
    """Change audiences, algorithms, keys or the oldest token accepted; needs `If-Match`.
    It changes who may become every profile whose rules name the issuer, so the caller
    must be able to grant everything those profiles hold."""
    with runtime.write() as session:
        row = issuers.get_issuer(session, account_id=caller.account_id, issuer_id=issuer_id)
        guard.require_issuer_change(session, runtime.roles, caller, MANAGE, url=row.url)
        row = issuers.update_issuer(
            session, journal=journal, account_id=caller.account_id, issuer_id=issuer_id,
            if_match=if_match, audiences=body.audiences, algorithms=body.algorithms,
            jwks=body.jwks, discovery=body.discovery, max_token_age=body.max_token_age,
            description=body.description)
    return IssuerPublic.of(row)


@router.delete("/{issuer_id}", status_code=204)
def delete_issuer(issuer_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                  journal: JournalDep) -> None:
    """Remove an issuer no claim rule names (409 naming them otherwise)."""
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, MANAGE)
        issuers.delete_issuer(session, journal=journal, account_id=caller.account_id,
                              issuer_id=issuer_id)
