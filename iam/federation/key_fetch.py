"""Fetching an issuer's keys: OIDC discovery, then its `jwks_uri`, within bounds.

Every fetch has a deadline (`timeout` seconds for the whole document) and a size bound
(`MAX_DOCUMENT` bytes, read in chunks: a larger answer is cut off, never buffered whole),
follows at most `MAX_REDIRECTS` redirects and only to the same host, and uses https unless
the issuer was registered with `allow_http`. The discovery document must name the issuer
it was fetched for (OpenID Connect Discovery 1.0, section 4.3).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from iam.errors import InvalidInput

MAX_DOCUMENT = 256 * 1024
MAX_REDIRECTS = 3
DISCOVERY_PATH = "/.well-known/openid-configuration"


class FetchFailed(Exception):
    """Raised when an issuer's discovery document or keys cannot be had (the message says
    what happened; it names no secret)."""


def _check_scheme(url: str, *, allow_http: bool) -> None:
    from iam.federation.issuers import check_url

    try:
        check_url(url, allow_http=allow_http, field="a URL the issuer gave")
    except InvalidInput as exc:
        raise FetchFailed(f"{url[:200]}: {exc.message}") from None


def fetch_json(url: str, *, allow_http: bool, timeout: float) -> Any:
    """The JSON document at `url`, within the bounds above, or FetchFailed."""
    deadline = time.monotonic() + timeout
    host = urlsplit(url).hostname
    with httpx.Client(follow_redirects=False, timeout=timeout) as client:
        for _ in range(MAX_REDIRECTS + 1):
            _check_scheme(url, allow_http=allow_http)
            try:
                with client.stream("GET", url, headers={"Accept": "application/json"}) as r:
                    if r.is_redirect:
                        target = urljoin(url, r.headers.get("location", ""))
                        if urlsplit(target).hostname != host:
                            raise FetchFailed(f"{url[:200]} redirects to another host; "
                                              "not followed")
                        url = target
                        continue
                    if r.status_code != 200:
                        raise FetchFailed(f"{url[:200]} answered HTTP {r.status_code}")
                    body = bytearray()
                    for chunk in r.iter_bytes():
                        body += chunk
                        if len(body) > MAX_DOCUMENT:
                            raise FetchFailed(f"{url[:200]} sent more than {MAX_DOCUMENT} "
                                              "bytes")
                        if time.monotonic() > deadline:
                            raise FetchFailed(f"{url[:200]} took more than {timeout} s")
            except httpx.HTTPError as exc:
                raise FetchFailed(f"{url[:200]} could not be fetched "
                                  f"({type(exc).__name__})") from None
            try:
                return json.loads(body)
            except ValueError:
                raise FetchFailed(f"{url[:200]} is not JSON") from None
    raise FetchFailed(f"{url[:200]}: more than {MAX_REDIRECTS} redirects")


def discover_jwks(issuer_url: str, *, allow_http: bool, timeout: float) -> Any:
    """The issuer's JWK Set through its discovery document."""
    config = fetch_json(issuer_url.rstrip("/") + DISCOVERY_PATH, allow_http=allow_http,
                        timeout=timeout)
    if not isinstance(config, dict) or config.get("issuer") != issuer_url:
        raise FetchFailed(f"the discovery document of {issuer_url[:200]} names another "
                          "issuer")
    jwks_uri = config.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise FetchFailed(f"the discovery document of {issuer_url[:200]} has no jwks_uri")
    return fetch_json(jwks_uri, allow_http=allow_http, timeout=timeout)
