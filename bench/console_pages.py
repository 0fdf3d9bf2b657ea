"""Console page times with 1,000 service IDs and 1,000 repositories in the account.

`python -m bench.console_pages [--identities 1000] [--repos 1000] [--requests 20]`

Starts `iam serve` (SQLite) and a real `docker-registry` (bench.content_list's), pushes
`--repos` repositories of one tag each into namespace `bench`, bulk-inserts `--identities`
service IDs (each with a key, a namespace and a policy: bench.seed), signs in to the console
as the owner through its sign-in form, then asks every page `--requests` times on one
keep-alive connection over loopback after two warm-up requests (and the images page once
more, eight times 6 s apart: past the console's 5 s tag memo). The figure is the
response time seen by the client on loopback: the server's time plus well under a
millisecond. The image pages are also timed cold (the first listing, digest cache empty).
Results go to bench/results/console-<timestamp>.json; the table is printed for
BENCHMARKS.md (target: every page <= 100 ms).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, select

from bench.content_list import NAMESPACE, RESULTS, Bench
from bench.seed import bulk_insert
from bench.servers import ROOT
from iam.config import load_settings
from iam.identity import server_secret
from iam.identity.accounts import system_account
from iam.store.db import make_engine
from iam.store.models import ServiceId

TARGET_MS = 100.0
SIGNIN_TOKEN = re.compile(r'name="signin_token" value="([^"]+)"')


def add_identities(bench: Bench, n: int) -> str:
    """n service IDs (with key, namespace and policy) in the bench server's database; the
    iam_id of one of them."""
    settings = load_settings(data_dir=bench.work / "iam", database_url="")
    engine = make_engine(settings.db_url)
    try:
        with Session(engine) as session:
            account = system_account(session)
            assert account is not None
        bulk_insert(engine, n, account_id=account.id, owner=account.owner_iam_id,
                    secret=server_secret.load(settings), sample_size=1)
        with Session(engine) as session:
            some = session.exec(select(ServiceId.iam_id).where(
                ServiceId.name == f"bench-{n // 2}")).one()
    finally:
        engine.dispose()
    return some


def sign_in(client: httpx.Client, apikey: str) -> None:
    page = client.get("/console/signin")
    token = SIGNIN_TOKEN.search(page.text)
    assert token is not None, page.text
    r = client.post("/console/signin", data={"signin_token": token.group(1), "apikey": apikey})
    assert r.status_code == 303, r.text


def timed(client: httpx.Client, path: str, *, requests: int, warm: int = 2,
          gap: float = 0.0) -> dict[str, Any]:
    """`requests` timed asks of `path` after `warm` untimed ones, `gap` seconds apart."""
    for _ in range(warm):
        assert client.get(path).status_code == 200, path
    seconds = []
    for _ in range(requests):
        time.sleep(gap)
        started = time.perf_counter()
        r = client.get(path)
        seconds.append(time.perf_counter() - started)
        assert r.status_code == 200, (path, r.status_code)
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 1),
            "max_ms": round(ms[-1], 1), "bytes": len(r.content)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identities", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    opts = parser.parse_args(argv)
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="iam-bench-console-", dir=base))
    bench = Bench(work)
    results: dict[str, Any] = {}
    try:
        bench.start()
        seeded = bench.seed(opts.repos, 1)
        some = add_identities(bench, opts.identities)
        image = f"{bench.registry_url.split('://', 1)[1]}/{NAMESPACE}/app0500:v0"
        images = f"/console/images?namespace={NAMESPACE}&region=us-south"
        with httpx.Client(base_url=bench.iam_url, timeout=120) as client:
            sign_in(client, bench.owner_key)
            started = time.perf_counter()
            assert client.get(images).status_code == 200
            cold = round((time.perf_counter() - started) * 1000, 1)
            pages = {
                "sign-in form": "/console/signin", "front page": "/console",
                "namespaces (page of 50 of 1,001)": "/console/namespaces",
                "images of a namespace (page of 10 of 1,000 repositories)": images,
                "image inspect": f"/console/images/inspect?image={image}",
                "image remove (confirmation, lists the image's repository)":
                    f"/console/images/remove?image={image}&namespace={NAMESPACE}"
                    "&region=us-south",
                "service IDs (page of 50 of 1,001)": "/console/serviceids",
                "one service ID (keys, policies)": f"/console/serviceids/{some}",
                "users": "/console/users", "access groups": "/console/groups",
                "explain": "/console/explain", "audit (50 events)": "/console/audit",
                "signing keys": "/console/operator/keys",
                "accounts": "/console/operator/accounts",
            }
            for name, path in pages.items():
                results[name] = timed(client, path, requests=opts.requests)
            # The page above is asked again within the console's tag memo (5 s): each
            # repository's tags are read, no tag's digest. Here every view comes later.
            results["images of a namespace, each view 6 s after the last (every tag "
                    "asked again)"] = timed(client, images, requests=8, warm=0, gap=6.0)
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    out = {"commit": commit, "identities": opts.identities, "repos": opts.repos,
           "seed_seconds": round(seeded, 1), "images_cold_ms": cold, "pages": results}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"console-{stamp}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    print(f"\n| page | median | p95 | max | ≤ {TARGET_MS:.0f} ms |")
    print("|---|--:|--:|--:|---|")
    for name, r in results.items():
        verdict = "yes" if r["p95_ms"] <= TARGET_MS else "**no**"
        print(f"| {name} | {r['median_ms']} ms | {r['p95_ms']} ms | {r['max_ms']} ms "
              f"| {verdict} |")
    print(f"\nfirst images page, digest cache empty: {cold} ms")


if __name__ == "__main__":
    main()
