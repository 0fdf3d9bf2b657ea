"""`iam-kubelet-credential-provider`: a kubelet image credential provider plugin
(`credentialprovider.kubelet.k8s.io/v1`) that pulls with the pod's own service-account
token (KEP-4412): no image pull secret exists anywhere.

The kubelet runs it with a `CredentialProviderRequest` on standard input (`image`,
`serviceAccountToken`, `serviceAccountAnnotations`) and reads a `CredentialProviderResponse`
on standard output. The token is exchanged at `<endpoint>/identity/token` (IBM's cr-token
grant) for a trusted profile's access token: the profile named by the service account's
annotation (`--annotation`, default `registry-iam.io/trusted-profile`), else `--profile`,
else the one profile whose rules accept the token. The registry gets `iambearer` and that
token; the kubelet caches it per registry for its lifetime less 30 s.
Arguments (the provider's `args` in the kubelet's CredentialProviderConfig):
`--endpoint URL [--profile NAME] [--annotation KEY]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import httpx

API_VERSION = "credentialprovider.kubelet.k8s.io/v1"
CR_TOKEN_GRANT = "urn:ibm:params:oauth:grant-type:cr-token"  # noqa: S105 (a grant name)
ANNOTATION = "registry-iam.io/trusted-profile"
EARLY = 30  # seconds before the token's end the kubelet stops using it


class ProviderError(Exception):
    """Raised when no credentials can be given; printed on standard error, exit 1."""


def registry_of(image: str) -> str:
    """`reg.example:5000/team-a/web:1.0` -> `reg.example:5000`."""
    host = image.split("/", 1)[0]
    if "/" not in image or ("." not in host and ":" not in host and host != "localhost"):
        raise ProviderError(f"image {image!r} names no registry host")
    return host


def respond(request: dict[str, Any], *, endpoint: str, profile: str | None,
            annotation: str) -> dict[str, Any]:
    if request.get("apiVersion") != API_VERSION or \
            request.get("kind") != "CredentialProviderRequest":
        raise ProviderError(f"expected a CredentialProviderRequest of {API_VERSION}")
    token = request.get("serviceAccountToken")
    if not token:
        raise ProviderError("the request carries no serviceAccountToken: set tokenAttributes "
                            "(serviceAccountTokenAudience) in the kubelet's "
                            "CredentialProviderConfig")
    annotations = request.get("serviceAccountAnnotations") or {}
    chosen = annotations.get(annotation) or profile
    form = {"grant_type": CR_TOKEN_GRANT, "cr_token": str(token)}
    if chosen:
        form["profile_name"] = str(chosen)
    try:
        r = httpx.post(f"{endpoint.rstrip('/')}/identity/token", data=form, timeout=30)
    except httpx.HTTPError as exc:
        raise ProviderError(f"cannot reach {endpoint}: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise ProviderError(f"{endpoint} refused the service account's token: "
                            f"{r.text[:300]}")
    body = r.json()
    return {"kind": "CredentialProviderResponse", "apiVersion": API_VERSION,
            "cacheKeyType": "Registry",
            "cacheDuration": f"{max(0, int(body['expires_in']) - EARLY)}s",
            "auth": {registry_of(str(request.get("image", ""))): {
                "username": "iambearer", "password": body["access_token"]}}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="iam-kubelet-credential-provider",
                                     description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--endpoint", required=True, help="the registry-iam service's URL")
    parser.add_argument("--profile", help="the trusted profile when no annotation names one")
    parser.add_argument("--annotation", default=ANNOTATION,
                        help=f"the service-account annotation naming the profile "
                             f"(default {ANNOTATION})")
    args = parser.parse_args()
    try:
        request = json.loads(sys.stdin.read())
        answer = respond(request, endpoint=args.endpoint, profile=args.profile,
                         annotation=args.annotation)
    except (ProviderError, ValueError, KeyError) as exc:
        print(f"iam-kubelet-credential-provider: {exc}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(answer))
