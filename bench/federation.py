"""A federated token request with cached issuer keys against an API-key token request, in
the same run: `python -m bench.federation [--duration S] [--rounds N] [--connections C]`.

One `iam serve` (1 worker, SQLite), one namespace, a service ID with a Writer policy and
its API key, and a trusted profile with one claim rule (`repository`, `ref`) and a Writer
policy, whose issuer is oauth2-mock-server (the tests' Node issuer, tests/oidc_env.py).
Both requests are `GET /token` with a push scope on that namespace: Basic `iamapikey:<key>`
against Basic `iamprofile/ci-push:<GitHub-shaped JWT>`. After one warm-up request each
(the keys fetched, every cache filled), wrk (`-t1`, a fixed Authorization header) runs
them alternately for `rounds` rounds; the ratio is the median of the per-round ratios of
requests per second (and of p50 latency), so load from elsewhere on the machine falls on
both alike. Then the same in process (`in_process`): the token service's own path for a
cache hit, no HTTP, CPU time per call, for a repeated token (its decision reused, as for
an API key) and for each token's first use (verified with the cached keys, its rule
matched). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.oidc_env import AUDIENCE, running_issuers
from tests.server import make_server

SCOPE = "repository:team-a/app:pull,push"
_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_P50 = re.compile(r"50%\s+([\d.]+)(us|ms|s)")


def _wrk(url: str, header: str, *, connections: int, duration: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency",
                          "-H", f"Authorization: {header}", url],
                         check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    rps = _RPS.search(out)
    p50 = _P50.search(out)
    if rps is None or p50 is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk run failed or got errors:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p50.group(2)]
    return {"rps": float(rps.group(1)), "p50_ms": float(p50.group(1)) * scale}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def run(*, duration: int, rounds: int, connections: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp, \
            running_issuers(1) as ([issuer], _process):
        root = Path(tmp)
        server = make_server(root / "iam")
        key_file = root / "owner.key"
        server.cli("init", "--apikey-file", str(key_file))
        server.start()
        try:
            owner = key_file.read_text().strip()
            admin = {"Authorization": "Bearer " + httpx.post(
                f"{server.url}/identity/token", timeout=30, data={
                    "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                    "apikey": owner}).json()["access_token"]}

            def api(method: str, path: str, **kw: Any) -> Any:
                r = httpx.request(method, f"{server.url}{path}", headers=admin, timeout=30, **kw)
                r.raise_for_status()
                return r.json() if r.content else None

            def writer(iam_id: str) -> None:
                api("POST", "/v1/policies", json={
                    "subject": {"iam_id": iam_id}, "roles": ["Writer"],
                    "resource": {"service": "container-registry", "resource_type": "namespace",
                                 "resource": "team-a"}})

            api("PUT", "/v1/namespaces/team-a")
            robot = api("POST", "/v1/serviceids", json={"name": "robot"})
            writer(robot["iam_id"])
            apikey = api("POST", "/v1/apikeys", json={"name": "k",
                                                      "iam_id": robot["iam_id"]})["apikey"]
            api("POST", "/v1/issuers", json={"url": issuer.url, "audiences": [AUDIENCE],
                                             "allow_http": True})
            profile = api("POST", "/v1/profiles", json={"name": "ci-push"})
            api("POST", f"/v1/profiles/{profile['id']}/rules", json={
                "name": "main", "issuer": issuer.url, "conditions": [
                    {"claim": "repository", "operator": "EQUALS", "value": "acme/web"},
                    {"claim": "ref", "operator": "EQUALS", "value": "refs/heads/main"}]})
            writer(profile["iam_id"])
            jwt_token = issuer.mint({"aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main",
                                     "repository": "acme/web", "ref": "refs/heads/main"},
                                    expires_in=3600)
            url = f"{server.url}/token?service=registry.local&scope={SCOPE}"
            cases = {"apikey": _basic("iamapikey", apikey),
                     "federated": _basic("iamprofile/ci-push", jwt_token)}
            for header in cases.values():  # warm: keys fetched, caches filled
                r = httpx.get(url, headers={"Authorization": header}, timeout=30)
                r.raise_for_status()
            results: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
            for _ in range(rounds):
                for name, header in cases.items():
                    results[name].append(_wrk(url, header, connections=connections,
                                              duration=duration))
        finally:
            server.stop()
    rps_ratios = [a["rps"] / f["rps"] for a, f in zip(results["apikey"], results["federated"],
                                                       strict=True)]
    p50_ratios = [f["p50_ms"] / a["p50_ms"] for a, f in zip(results["apikey"],
                                                             results["federated"], strict=True)]
    return {"duration_s": duration, "rounds": rounds, "connections": connections,
            "runs": results, "cost_ratio_by_rps": round(statistics.median(rps_ratios), 3),
            "cost_ratio_by_p50": round(statistics.median(p50_ratios), 3), "goal": 1.5}


def in_process(*, rounds: int, n: int) -> dict[str, Any]:
    """The token service's own path, no HTTP: `with_basic(..., database=False)` (what a
    cache hit runs on the event loop), `n` calls per case and round, CPU time per call."""
    import time

    from fastapi.testclient import TestClient

    from iam import bootstrap
    from iam.api.app import create_app
    from iam.config import Settings
    from iam.registry.basic_auth import BasicCredentials
    from iam.registry.scopes import parse_scopes
    from iam.registry.token_service import TokenRequest

    with tempfile.TemporaryDirectory(prefix="bench-federation-") as tmp, \
            running_issuers(1) as ([issuer], _process):
        settings = Settings(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/iam.db")
        init = bootstrap.initialize(settings)
        assert init.new_account is not None
        app = create_app(settings)
        with TestClient(app) as client:
            admin = {"Authorization": "Bearer " + client.post("/identity/token", data={
                "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                "apikey": init.new_account.apikey}).json()["access_token"]}

            def api(method: str, path: str, **kw: Any) -> Any:
                r = client.request(method, path, headers=admin, **kw)
                r.raise_for_status()
                return r.json() if r.content else None

            api("PUT", "/v1/namespaces/team-a")
            robot = api("POST", "/v1/serviceids", json={"name": "robot"})
            profile = api("POST", "/v1/profiles", json={"name": "ci-push"})
            for iam_id in (robot["iam_id"], profile["iam_id"]):
                api("POST", "/v1/policies", json={
                    "subject": {"iam_id": iam_id}, "roles": ["Writer"],
                    "resource": {"service": "container-registry",
                                 "resource_type": "namespace", "resource": "team-a"}})
            apikey = api("POST", "/v1/apikeys", json={"name": "k",
                                                      "iam_id": robot["iam_id"]})["apikey"]
            api("POST", "/v1/issuers", json={"url": issuer.url, "audiences": [AUDIENCE],
                                             "allow_http": True})
            api("POST", f"/v1/profiles/{profile['id']}/rules", json={
                "name": "main", "issuer": issuer.url, "conditions": [
                    {"claim": "repository", "operator": "EQUALS", "value": "acme/web"},
                    {"claim": "ref", "operator": "EQUALS", "value": "refs/heads/main"}]})
            token = issuer.mint({"aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main",
                                 "repository": "acme/web", "ref": "refs/heads/main"},
                                expires_in=3600)
            tokens = app.state.runtime.registry_tokens
            request = TokenRequest(service="registry.local", scopes=parse_scopes([SCOPE]))
            cases = {"apikey": BasicCredentials("iamapikey", apikey),
                     "federated": BasicCredentials("iamprofile/ci-push", token)}
            for credentials in cases.values():
                tokens.with_basic(request, credentials)  # warm, with the database
            fresh_count = min(n, 201)
            fresh = [[BasicCredentials("iamprofile/ci-push", issuer.mint(
                {"aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main",
                 "repository": "acme/web", "ref": "refs/heads/main"}, expires_in=3600))
                      for _ in range(fresh_count)] for _ in range(rounds)]
            per_call: dict[str, list[float]] = {name: [] for name in (*cases, "first_use")}
            for round_ in range(rounds):
                for name, credentials in cases.items():
                    started = time.process_time()
                    for _ in range(n):
                        tokens.with_basic(request, credentials, database=False)
                    per_call[name].append((time.process_time() - started) / n * 1e6)
                tokens.with_basic(request, fresh[round_][0])  # keys refreshed if due
                started = time.process_time()
                for credentials in fresh[round_][1:]:  # each token's first use: verified
                    tokens.with_basic(request, credentials, database=False)
                per_call["first_use"].append((time.process_time() - started)
                                             / (fresh_count - 1) * 1e6)

    def ratio(case: str) -> float:
        return round(statistics.median(
            f / a for a, f in zip(per_call["apikey"], per_call[case], strict=True)), 3)

    return {"calls_per_round": n, "first_use_calls_per_round": fresh_count,
            "cpu_us_per_call": {k: [round(v, 1) for v in vs] for k, vs in per_call.items()},
            "cost_ratio_repeated_token": ratio("federated"),
            "cost_ratio_first_use_of_a_token": ratio("first_use")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--calls", type=int, default=2000,
                        help="in-process calls per case and round")
    args = parser.parse_args()
    print(json.dumps({"http": run(duration=args.duration, rounds=args.rounds,
                                  connections=args.connections),
                      "in_process": in_process(rounds=args.rounds, n=args.calls)}, indent=2))


if __name__ == "__main__":
    main()
