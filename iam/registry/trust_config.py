"""What a distribution registry needs to trust our tokens: trust files and `auth.token`.

Two trust modes, chosen per registry (`iam.registry.registries`):

- `bundle` (the default): tokens carry `x5c` (the signing certificate) and the libtrust
  `kid`; the registry checks the certificate against `rootcertbundle`. Distribution 2.8
  and every 3.x.
- `jwks`: tokens carry no `x5c` and `kid` = the key's RFC 7638 thumbprint; the registry
  finds the key by that kid in its `jwks` file. Distribution 3.x only (2.8 has no `jwks`,
  and 3.x checks any `x5c` against `rootcertbundle` alone, so a token with `x5c` is refused
  by a 3.x registry that has only `jwks`).

Both files are written every time: the bundle holds the certificate of every published key
(pending, active and retired), the JWKS the same keys by thumbprint, so a registry
restarted after `iam keys rotate` accepts tokens of the old and the new key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from iam.config import Registry, Settings
from iam.errors import InvalidInput
from iam.tokens.signing import SigningKey, load_keys

BUNDLE_FILE = "iam-token-bundle.pem"
JWKS_FILE = "iam-token-jwks.json"


@dataclass(frozen=True)
class RegistryConfig:
    bundle: Path
    jwks: Path
    auth_section: str


def auth_token_section(*, realm: str, service: str, issuer: str, bundle: Path,
                       jwks: Path, trust: str = "bundle") -> str:
    """The `auth.token` YAML block of the registry's config.yml for its trust mode."""
    def quoted(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid YAML scalar

    if trust == "jwks":
        keys = (f"    jwks: {quoted(str(jwks))}\n"
                "    # trust mode jwks: kid = JWK thumbprint, no x5c (distribution 3.x only)\n")
    else:
        keys = (f"    rootcertbundle: {quoted(str(bundle))}\n"
                "    # trust mode bundle: x5c checked against rootcertbundle (distribution "
                "2.8 and 3.x)\n")
    return (
        "auth:\n"
        "  token:\n"
        f"    realm: {quoted(realm)}\n"
        f"    service: {quoted(service)}\n"
        f"    issuer: {quoted(issuer)}\n"
        f"{keys}"
    )


def _write(path: Path, data: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


def write_trust_files(keys: list[SigningKey], out_dir: Path) -> tuple[Path, Path]:
    """Write the certificate bundle and the JWKS (kid = thumbprint) of `keys` into
    `out_dir` (atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle, jwks = out_dir / BUNDLE_FILE, out_dir / JWKS_FILE
    _write(bundle, "".join(k.certificate_pem for k in keys))
    _write(jwks, json.dumps({"keys": [k.thumbprint_jwk() for k in keys]}, indent=2) + "\n")
    return bundle.resolve(), jwks.resolve()


def write_registry_config(settings: Settings, *, registry: Registry, realm: str,
                          out_dir: Path) -> RegistryConfig:
    """Write the trust files for `registry` and return its `auth.token` section."""
    keys = load_keys(settings.keys_dir)
    if not keys:
        raise InvalidInput(f"no signing key in {settings.keys_dir}; run `iam init` first")
    bundle, jwks = write_trust_files(keys, out_dir)
    section = auth_token_section(realm=realm, service=registry.service,
                                 issuer=settings.issuer, bundle=bundle, jwks=jwks,
                                 trust=registry.trust)
    return RegistryConfig(bundle=bundle, jwks=jwks, auth_section=section)
