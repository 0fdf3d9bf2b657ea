"""What a distribution registry needs to trust our tokens: certificates and `auth.token`.

The bundle holds the certificate of every published key (pending, active and retired), so a
registry restarted after `iam keys rotate` accepts tokens of the old and the new key. The
JWKS file is the same set for distribution 3.x's `auth.token.jwks`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from iam.config import Settings
from iam.errors import InvalidInput
from iam.registry.directory import RegistryDirectory
from iam.tokens.signing import SigningKey, load_keys

BUNDLE_FILE = "iam-token-bundle.pem"
JWKS_FILE = "iam-token-jwks.json"


@dataclass(frozen=True)
class RegistryConfig:
    bundle: Path
    jwks: Path
    auth_section: str


def auth_token_section(*, realm: str, service: str, issuer: str, bundle: Path,
                       jwks: Path) -> str:
    """The `auth.token` YAML block of the registry's config.yml."""
    def quoted(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid YAML scalar

    return (
        "auth:\n"
        "  token:\n"
        f"    realm: {quoted(realm)}\n"
        f"    service: {quoted(service)}\n"
        f"    issuer: {quoted(issuer)}\n"
        f"    rootcertbundle: {quoted(str(bundle))}\n"
        f"    # distribution 3.x may use the JWKS instead: jwks: {quoted(str(jwks))}\n"
    )


def _write(path: Path, data: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(data)
    os.replace(tmp, path)


def write_trust_files(keys: list[SigningKey], out_dir: Path) -> tuple[Path, Path]:
    """Write the certificate bundle and the JWKS of `keys` into `out_dir` (atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle, jwks = out_dir / BUNDLE_FILE, out_dir / JWKS_FILE
    _write(bundle, "".join(k.certificate_pem for k in keys))
    _write(jwks, json.dumps({"keys": [k.jwk() for k in keys]}, indent=2) + "\n")
    return bundle.resolve(), jwks.resolve()


def write_registry_config(settings: Settings, *, service: str, realm: str,
                          out_dir: Path) -> RegistryConfig:
    """Write the trust files for `service` and return its `auth.token` section."""
    if RegistryDirectory(settings.registries).get(service) is None:
        known = RegistryDirectory(settings.registries).names()
        raise InvalidInput(f"unknown service {service!r}; the configured registries are: "
                           f"{known} (set IAM_REGISTRIES or `registries` in the config file)")
    keys = load_keys(settings.keys_dir)
    if not keys:
        raise InvalidInput(f"no signing key in {settings.keys_dir}; run `iam init` first")
    bundle, jwks = write_trust_files(keys, out_dir)
    section = auth_token_section(realm=realm, service=service, issuer=settings.issuer,
                                 bundle=bundle, jwks=jwks)
    return RegistryConfig(bundle=bundle, jwks=jwks, auth_section=section)
