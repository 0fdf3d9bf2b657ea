"""Where one token request's time goes, stage by stage, in-process (no HTTP, no load).

    python -m bench.stages DATA_DIR [DATABASE_URL]

DATA_DIR is a seeded data directory (bench/results/<run>/sqlite-n100000, kept after a run).
Each stage runs over the seeded keys in rotation; figures are microseconds per call. The
stages are the cache-miss path (the cache is started only for the last line).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable


def _timed(label: str, fn: Callable[[int], object], n: int = 2000) -> None:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    print(f"{label:42s} {1e6 * (time.perf_counter() - started) / n:8.0f} us", flush=True)


def main(argv: list[str]) -> None:
    data_dir = argv[0]
    os.environ["IAM_DATA_DIR"] = data_dir
    if len(argv) > 1:
        os.environ["IAM_DATABASE_URL"] = argv[1]
    from iam.config import load_settings
    from iam.identity import apikey_format
    from iam.identity.cached_principals import principal_of_key
    from iam.registry import claims, scopes
    from iam.registry.basic_auth import BasicCredentials
    from iam.registry.token_service import TokenRequest, held_actions
    from iam.runtime import Runtime

    rt = Runtime.start(load_settings())
    with open(f"{data_dir}/keys.txt") as lines:
        keys = [line.split() for line in lines if line.strip()]
    service = rt.registry_tokens

    def whole(i: int) -> object:
        key, ns = keys[i % len(keys)]
        asked = TokenRequest(service="registry.local",
                             scopes=scopes.parse_scopes([f"repository:{ns}/app:pull,push"]))
        return service.with_basic(asked, BasicCredentials("iamapikey", key))

    def session(i: int) -> object:
        with rt.read() as s:
            return s.connection()

    def authenticate(i: int) -> object:
        with rt.read() as s:
            key = keys[i % len(keys)][0]
            return principal_of_key(lambda: s, value=key,
                                    digest=apikey_format.digest(key, rt.secret), cache=None)

    principals = []
    with rt.read() as s:
        for key, _ in keys[:200]:
            principals.append(principal_of_key(
                lambda: s, value=key, digest=apikey_format.digest(key, rt.secret), cache=None))

    def held(i: int) -> object:
        p = principals[i % len(principals)]
        with rt.read() as s:
            return held_actions(lambda: s, rt.roles, p, region="",
                                repositories=[(keys[i % len(principals)][1], "app")])

    def sign(i: int) -> object:
        return claims.issue(
            keyring=rt.keyring, issuer="registry-iam", subject="iam-ServiceId-x",
            audience="registry.local", ttl=300,
            access=[{"type": "repository", "name": "ns/app", "actions": ["pull", "push"]}])

    try:
        for _ in range(2):  # the first pass warms caches; read the second
            _timed("whole TokenService.with_basic", whole)
            _timed("  read session begin + rollback", session)
            _timed("  principal_of_key (1 query)", authenticate)
            _timed("  authz.held_actions (namespace, groups, policies)", held)
            _timed("  sign ES256 (kid + x5c)", sign)
        rt.authcache.start()  # the figures above are the cache-miss path; now the hit path
        for _ in range(2):
            _timed("whole TokenService.with_basic, cache warm", whole)
    finally:
        rt.close()


if __name__ == "__main__":
    main(sys.argv[1:])
