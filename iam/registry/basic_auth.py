"""Who asks for a registry token: IBM's login conventions, one credential kind each.

- username `iamapikey`, password an API key (HMAC lookup, no slow hash);
- username `iambearer`, password an IAM access token from `/identity/token`;
- username `iamprofile` or `iamprofile/<trusted profile id or name>` (`name@ACCOUNT_ID`
  when the name is in several accounts), password a workload's OIDC token
  (`iam.federation.exchange`; served by the token service, which passes it the database
  flag its key fetches need);
- any other username: a user and that user's password (argon2, user logins only);
- the POST refresh grant: a refresh token, which dies with its key or user
  (`access_tokens.principal_of_refresh`, shared with `/identity/token`).

Every failure is the same `Unauthenticated`. Brute-force limits and the audit trail are
`iam.identity.attempts`, shared with `/identity/token`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from iam.config import Settings
from iam.errors import Unauthenticated
from iam.identity import authn
from iam.identity.authn import Principal
from iam.identity.cached_principals import principal_of_key
from iam.store.generation_cache import AuthCache, SessionFor
from iam.tokens import access_tokens
from iam.tokens.signing import Keyring

APIKEY_USER = "iamapikey"
BEARER_USER = "iambearer"
PROFILE_USER = "iamprofile"
MAX_CREDENTIAL = 8192


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)


def parse_basic(header: str | None) -> BasicCredentials | None:
    """None without an `Authorization` header; Unauthenticated when it is not valid Basic."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or len(value) > MAX_CREDENTIAL:
        raise Unauthenticated(reason="malformed")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated(reason="malformed") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username or not password:
        raise Unauthenticated(reason="malformed")
    return BasicCredentials(username=username, password=password)


def profile_login(username: str) -> tuple[str | None, str | None] | None:
    """`iamprofile[/<profile>[@<account>]]` -> (profile, account); None for other names."""
    if username == PROFILE_USER:
        return None, None
    if not username.startswith(PROFILE_USER + "/") or len(username) <= len(PROFILE_USER) + 1:
        return None
    ref = username[len(PROFILE_USER) + 1:]
    if "@" in ref:
        ref, _, account = ref.rpartition("@")
        return ref, account or None
    return ref, None


def authenticate_basic(session: SessionFor, *, settings: Settings, keyring: Keyring,
                       credentials: BasicCredentials, key_digest: str,
                       cache: AuthCache | None = None) -> Principal:
    """The principal behind a docker login, by IBM's username conventions. `key_digest` is
    the password's `apikey_format.digest` for `iamapikey`, computed once by the caller (it
    keys its decisions by it); other usernames ignore it."""
    if credentials.username == APIKEY_USER:
        return principal_of_key(session, value=credentials.password, digest=key_digest,
                                cache=cache)
    if credentials.username == BEARER_USER:
        claims = access_tokens.verify_access(settings, keyring, credentials.password)
        return authn.principal_from_claims(session(), claims)
    return authn.authenticate_password(session(), username=credentials.username,
                                       password=credentials.password)
