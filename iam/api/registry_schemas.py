"""Request and response shapes of `/v1/registries`.

Anyone authenticated reads a registry's service, region, URL and settings; the CA file's
path, a detail of the operator's machine, only the system operator (`RegistryDetail`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, StrictBool, StrictStr

from iam.api.schemas import Page, Public, Strict
from iam.store.models import RegistryRow

TrustMode = Literal["bundle", "jwks"]
_TRUST = ("how the registry checks our tokens: `bundle` (x5c against rootcertbundle; "
          "distribution 2.8 and 3.x) or `jwks` (kid = JWK thumbprint; distribution 3.x)")


class RegistryCreate(Strict):
    service: StrictStr = Field(max_length=256, description="the registry's "
                               "auth.token.service, the tokens' `aud`")
    region: StrictStr = Field(default="", max_length=64)
    url: StrictStr = Field(default="", max_length=2048, description="where this service "
                           "reaches the registry's API: http(s)://host[:port]")
    ca_file: StrictStr | None = Field(default=None, max_length=4096, description="absolute "
                                      "path of a PEM CA file on the server")
    tls_verify: StrictBool = True
    delete_enabled: StrictBool = True
    trust: TrustMode = Field(default="bundle", description=_TRUST)


class RegistryUpdate(Strict):
    """The fields to change; absent ones stay. `ca_file: null` removes the CA file."""

    region: StrictStr | None = Field(default=None, max_length=64)
    url: StrictStr | None = Field(default=None, max_length=2048)
    ca_file: StrictStr | None = Field(default=None, max_length=4096)
    tls_verify: StrictBool | None = None
    delete_enabled: StrictBool | None = None
    trust: TrustMode | None = Field(default=None, description=_TRUST)


class RegistryPublic(Public):
    service: str
    region: str
    url: str
    tls_verify: bool
    delete_enabled: bool
    trust: str
    created_at: datetime
    modified_at: datetime
    entity_tag: str


class RegistryDetail(RegistryPublic):
    """What the system operator reads: the CA file too."""

    ca_file: str | None


def registry_view(row: RegistryRow, *, operator: bool) -> RegistryDetail | RegistryPublic:
    return RegistryDetail.of(row) if operator else RegistryPublic.of(row)


RegistryPage = Page[RegistryDetail] | Page[RegistryPublic]
