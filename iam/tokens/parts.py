"""What a token endpoint checks credentials and signs with: the settings, the keyring, the
HMAC secret, the generation cache, a way to open a read session and the exchange of
workload tokens for trusted profiles. The runtime builds the
services on top of it (`oauth_grants.IdentityTokens`, `iam.registry.token_service.
TokenService`) once, from its own parts."""

from __future__ import annotations

from dataclasses import dataclass, field

from iam.config import Settings
from iam.federation.exchange import Federation
from iam.store.generation_cache import AuthCache, OpenSession
from iam.tokens.signing import Keyring


@dataclass(frozen=True)
class TokenParts:
    settings: Settings
    keyring: Keyring
    secret: bytes = field(repr=False)
    cache: AuthCache
    read: OpenSession
    federation: Federation  # workload tokens -> trusted profiles
