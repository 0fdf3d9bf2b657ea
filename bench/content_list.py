"""image-list against a real registry: a namespace of R repositories x T tags.

`python -m bench.content_list [--repos 1000] [--tags 10] [--page 1000]`

Starts `iam serve` (SQLite) and a `docker-registry` that logs every request, pushes the
namespace straight to the registry (one shared layer mounted into every repository, one
config and one manifest per tag: every tag its own digest), then lists the whole namespace
through `GET /v1/images` page by page, twice: first with the service's digest cache empty,
then again. The registry's access log counts what each listing cost it. Figures go to
bench/results/content-<timestamp>.json; the table is printed for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.servers import BIN, ROOT, free_port

SERVICE = "bench.registry"
REGION = "us-south"
NAMESPACE = "bench"
REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
RESULTS = ROOT / "bench" / "results"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REQUEST = re.compile(r'"([A-Z]+) (/v2/\S*) HTTP/[0-9.]+"')


def _wait(url: str, ok: tuple[int, ...], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


class Bench:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.iam_port, self.registry_port = free_port(), free_port()
        self.iam_url = f"http://127.0.0.1:{self.iam_port}"
        self.registry_url = f"http://127.0.0.1:{self.registry_port}"
        self.env = {**os.environ, "IAM_DATA_DIR": str(work / "iam"),
                    "IAM_PUBLIC_URL": self.iam_url,
                    "IAM_REGISTRIES": json.dumps([{"service": SERVICE, "region": REGION,
                                                   "url": self.registry_url}])}
        self.env.pop("IAM_DATABASE_URL", None)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.log = work / "registry.log"

    def iam(self, *args: str) -> str:
        return subprocess.run([str(BIN / "iam"), *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def start(self) -> None:
        self.iam("init", "--apikey-file", str(self.work / "owner.key"))
        self.owner_key = (self.work / "owner.key").read_text().strip()
        log = (self.work / "iam.log").open("wb")
        self.processes.append(subprocess.Popen(
            [str(BIN / "iam"), "serve", "--port", str(self.iam_port)], env=self.env,
            stdout=log, stderr=subprocess.STDOUT))
        _wait(f"{self.iam_url}/readyz", (200,), self.processes[-1], self.work / "iam.log")
        section = self.iam("registry-config", "--service", SERVICE, "--realm",
                           f"{self.iam_url}/token", "--out", str(self.work / "trust"))
        config = self.work / "registry.yml"
        indented = "".join(f"{line}\n" for line in section.splitlines())
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {json.dumps(str(self.work / 'data'))}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.registry_port}\n  secret: {secrets.token_hex(16)}\n"
            + indented)
        out = self.log.open("ab")
        self.processes.append(subprocess.Popen([REGISTRY_BIN, "serve", str(config)],
                                               stdout=out, stderr=subprocess.STDOUT))
        _wait(f"{self.registry_url}/v2/", (401,), self.processes[-1], self.log)
        r = httpx.post(f"{self.iam_url}/identity/token", timeout=10, data={
            "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": self.owner_key})
        r.raise_for_status()
        self.admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = httpx.put(f"{self.iam_url}/v1/namespaces/{NAMESPACE}", params={"region": REGION},
                      headers=self.admin, timeout=10)
        assert r.status_code in (200, 201), r.text

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()

    # -- seeding, straight to the registry ------------------------------------------------

    def push_token(self, repositories: list[str]) -> str:
        basic = base64.b64encode(f"iamapikey:{self.owner_key}".encode()).decode()
        r = httpx.get(f"{self.iam_url}/token", timeout=30,
                      headers={"Authorization": f"Basic {basic}"},
                      params=[("service", SERVICE)] + [
                          ("scope", f"repository:{name}:pull,push") for name in repositories])
        r.raise_for_status()
        return str(r.json()["token"])

    def seed(self, repos: int, tags: int) -> float:
        started = time.monotonic()
        layer = secrets.token_bytes(512)
        layer_digest = f"sha256:{hashlib.sha256(layer).hexdigest()}"
        names = [f"{NAMESPACE}/app{i:04d}" for i in range(repos)]
        first = names[0]

        def upload(client: httpx.Client, name: str, data: bytes, digest: str) -> None:
            r = client.post(f"{self.registry_url}/v2/{name}/blobs/uploads/")
            assert r.status_code == 202, r.text
            location = r.headers["Location"]
            if location.startswith("/"):
                location = self.registry_url + location
            sep = "&" if "?" in location else "?"
            r = client.put(f"{location}{sep}digest={digest}", content=data,
                           headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 201, r.text

        def push_repository(index: int) -> None:
            name = names[index]
            scopes = [name] if name == first else [name, first]
            token = self.push_token(scopes)
            with httpx.Client(timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as client:
                if name == first:
                    upload(client, name, layer, layer_digest)
                else:
                    r = client.post(f"{self.registry_url}/v2/{name}/blobs/uploads/",
                                    params={"mount": layer_digest, "from": first})
                    assert r.status_code == 201, r.text
                for t in range(tags):
                    config = json.dumps({
                        "architecture": "amd64", "os": "linux",
                        "created": f"2026-11-{1 + t % 28:02d}T00:00:00Z",
                        "config": {"Labels": {"repo": name, "tag": str(t)}},
                        "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
                    config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
                    upload(client, name, config, config_digest)
                    manifest = json.dumps({
                        "schemaVersion": 2, "mediaType": MANIFEST,
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                   "digest": config_digest, "size": len(config)},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                    "digest": layer_digest, "size": len(layer)}]}).encode()
                    r = client.put(f"{self.registry_url}/v2/{name}/manifests/v{t}",
                                   content=manifest, headers={"Content-Type": MANIFEST})
                    assert r.status_code == 201, r.text

        push_repository(0)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(push_repository, range(1, repos)))
        return time.monotonic() - started

    # -- measuring --------------------------------------------------------------------------

    def registry_requests(self) -> list[tuple[str, str]]:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return REQUEST.findall(text)

    def list_all(self, page: int) -> dict[str, Any]:
        before = len(self.registry_requests())
        started = time.monotonic()
        images = pages = 0
        start: str | None = None
        with httpx.Client(timeout=600, headers=self.admin) as client:
            while True:
                params: dict[str, Any] = {"namespace": NAMESPACE, "limit": page}
                if start:
                    params["pagestart"] = start
                r = client.get(f"{self.iam_url}/v1/images", params=params)
                r.raise_for_status()
                body = r.json()
                pages += 1
                images += len(body["data"])
                start = body.get("next_pagestart")
                if not start:
                    break
        seconds = time.monotonic() - started
        time.sleep(1.5)  # the registry writes its access log line after answering
        made = self.registry_requests()[before:]
        kinds = Counter(_kind(method, path) for method, path in made)
        return {"seconds": round(seconds, 2), "images": images, "pages": pages,
                "registry_requests": len(made), "by_kind": dict(kinds)}


def _kind(method: str, path: str) -> str:
    if path.startswith("/v2/_catalog"):
        return "catalog"
    if "/tags/list" in path:
        return "tags"
    if "/manifests/" in path:
        return f"{method} manifest"
    if "/blobs/" in path:
        return f"{method} blob"
    return f"{method} other"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--page", type=int, default=1000)
    opts = parser.parse_args(argv)
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="iam-bench-content-", dir=base))
    bench = Bench(work)
    try:
        bench.start()
        seeded = bench.seed(opts.repos, opts.tags)
        tags = opts.repos * opts.tags
        runs = {"first": bench.list_all(opts.page), "repeat": bench.list_all(opts.page)}
    finally:
        bench.stop()
        shutil.rmtree(work, ignore_errors=True)
    for run in runs.values():
        run["requests_per_tag"] = round(run["registry_requests"] / tags, 4)
        assert run["images"] == tags, run
    stamp = time.strftime("%Y%m%dT%H%M%S")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    result = {"commit": commit, "repos": opts.repos, "tags_per_repo": opts.tags,
              "page": opts.page, "seed_seconds": round(seeded, 1), "runs": runs}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"content-{stamp}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print("\n| listing | time | pages | registry requests | per tag | by kind |")
    print("|---|--:|--:|--:|--:|---|")
    for name, run in runs.items():
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(run["by_kind"].items()))
        print(f"| {name} | {run['seconds']} s | {run['pages']} | {run['registry_requests']:,} "
              f"| {run['requests_per_tag']} | {kinds} |")


if __name__ == "__main__":
    main()
