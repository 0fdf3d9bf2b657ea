"""The grants of `POST /identity/token` (IBM's IAM token endpoint), one class each.

Shaped like Authlib's grants (`GRANT_TYPE`, validate, then create the token), failing with
domain errors that `iam.api.errors.OAUTH` answers as RFC 6749's: `InvalidTokenRequest`
(`invalid_request`), `Unsupported` (`unsupported_grant_type`) and, for every credential
failure alike, `Unauthenticated` (`invalid_grant`).
`IdentityTokens` holds the parts the grants use (built once by the runtime) and picks the
grant of a request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from iam.errors import InvalidTokenRequest, Unsupported
from iam.identity import apikey_format, authn
from iam.identity.authn import Principal
from iam.identity.cached_principals import principal_of_key
from iam.store.generation_cache import SessionFor, lazy_session
from iam.tokens import access_tokens
from iam.tokens.access_tokens import TokenPair
from iam.tokens.parts import TokenParts

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


def _field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidTokenRequest(f"missing form field {name!r}", target=name)
    if len(value) > 4096:
        raise InvalidTokenRequest(f"form field {name!r} is too long", target=name)
    return value


@dataclass(frozen=True)
class IdentityTokens(TokenParts):
    """`/identity/token`'s grants with the parts they use (built once by the runtime)."""

    def grant_for(self, grant_type: str | None) -> Grant:
        if not grant_type:
            raise InvalidTokenRequest("missing form field 'grant_type'", target="grant_type")
        cls = GRANTS.get(grant_type)
        if cls is None:
            raise Unsupported(f"grant_type={grant_type[:80]} is not supported",
                              target="grant_type")
        return cls(self)


class Grant:
    GRANT_TYPE: ClassVar[str]

    def __init__(self, tokens: IdentityTokens) -> None:
        self.tokens = tokens

    def authenticate(self, session: SessionFor, form: Mapping[str, str]) -> Principal:
        raise NotImplementedError

    def create_token_response(self, form: Mapping[str, str], *,
                              database: bool = True) -> tuple[Principal, TokenPair]:
        """`database=False`: authenticate from the cache or raise NeedsDatabase."""
        with lazy_session(self.tokens.read, database) as session:
            principal = self.authenticate(session, form)
        return principal, access_tokens.issue_pair(self.tokens.settings, self.tokens.keyring,
                                                   principal)


class ApiKeyGrant(Grant):
    GRANT_TYPE = APIKEY_GRANT

    def authenticate(self, session: SessionFor, form: Mapping[str, str]) -> Principal:
        value = _field(form, "apikey")
        return principal_of_key(session, value=value,
                                digest=apikey_format.digest(value, self.tokens.secret),
                                cache=self.tokens.cache)


class PasswordGrant(Grant):
    GRANT_TYPE = "password"

    def authenticate(self, session: SessionFor, form: Mapping[str, str]) -> Principal:
        return authn.authenticate_password(
            session(), username=_field(form, "username"), password=_field(form, "password"),
            account_id=form.get("account") or None)


class RefreshTokenGrant(Grant):
    GRANT_TYPE = "refresh_token"

    def authenticate(self, session: SessionFor, form: Mapping[str, str]) -> Principal:
        return access_tokens.principal_of_refresh(session, self.tokens.settings,
                                                  self.tokens.keyring,
                                                  _field(form, "refresh_token"),
                                                  self.tokens.cache)


CR_TOKEN_GRANT = "urn:ibm:params:oauth:grant-type:cr-token"  # noqa: S105 (grant names)
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
JWT_TOKEN_TYPES = ("urn:ietf:params:oauth:token-type:jwt",
                   "urn:ietf:params:oauth:token-type:id_token")
MAX_WORKLOAD_TOKEN = 8192


def _token_field(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidTokenRequest(f"missing form field {name!r}", target=name)
    if len(value) > MAX_WORKLOAD_TOKEN:
        raise InvalidTokenRequest(f"form field {name!r} is too long", target=name)
    return value


class _WorkloadGrant(Grant):
    """A workload's own token exchanged for a trusted profile's session; the profile named
    by `profile_id` or `profile_name` (with `account` when the name is in several
    accounts), or, without either, the one profile whose rules accept the token."""

    TOKEN_FIELD: ClassVar[str]

    def create_token_response(self, form: Mapping[str, str], *,
                              database: bool = True) -> tuple[Principal, TokenPair]:
        token = _token_field(form, self.TOKEN_FIELD)
        self.check(form)
        with lazy_session(self.tokens.read, database) as session:
            principal = self.tokens.federation.principal_of(
                session, token, profile=form.get("profile_id") or form.get("profile_name"),
                account=form.get("account") or None, database=database)
        return principal, access_tokens.issue_pair(self.tokens.settings, self.tokens.keyring,
                                                   principal)

    def check(self, form: Mapping[str, str]) -> None:
        """Fields the grant requires besides the token."""


class CrTokenGrant(_WorkloadGrant):
    """IBM's compute-resource token grant: `cr_token`, `profile_id` or `profile_name`."""

    GRANT_TYPE = CR_TOKEN_GRANT
    TOKEN_FIELD = "cr_token"  # noqa: S105 (a form field name)


class TokenExchangeGrant(_WorkloadGrant):
    """RFC 8693: `subject_token` of `subject_token_type` jwt or id_token."""

    GRANT_TYPE = TOKEN_EXCHANGE_GRANT
    TOKEN_FIELD = "subject_token"  # noqa: S105 (a form field name)

    def check(self, form: Mapping[str, str]) -> None:
        kind = form.get("subject_token_type")
        if kind not in JWT_TOKEN_TYPES:
            raise InvalidTokenRequest(f"subject_token_type must be one of "
                                      f"{', '.join(JWT_TOKEN_TYPES)}",
                                      target="subject_token_type")


GRANTS: dict[str, type[Grant]] = {
    g.GRANT_TYPE: g for g in (ApiKeyGrant, PasswordGrant, RefreshTokenGrant, CrTokenGrant,
                              TokenExchangeGrant)
}
