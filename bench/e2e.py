"""End to end: skopeo push then pull of a 3-layer image (~15 MB) through a real
`docker-registry`, with token auth through `iam serve`, against the same registry with its
own htpasswd (bcrypt) auth. Rounds alternate which goes first; each push is of fresh
content (random layers) into a fresh repository, so no blob is skipped or mounted.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import subprocess
import tarfile
import time
import warnings
from pathlib import Path
from statistics import median
from typing import Any

from bench.seed import namespace_name, seed
from bench.servers import ROOT, Server, free_port, start_iam

LAYERS = 3
LAYER_BYTES = 5 * 1024 * 1024
BCRYPT_COST_ROUNDS = 32  # 2**5: `htpasswd -B`'s default cost, as the registry docs use it


def _blob(blobs: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_image(layout: Path) -> None:
    """An OCI layout of LAYERS uncompressed random layers, tagged `latest`."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers, diff_ids = [], []
    for i in range(LAYERS):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            payload = secrets.token_bytes(LAYER_BYTES)
            info = tarfile.TarInfo(f"layer{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        desc = _blob(blobs, buf.getvalue())
        layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", **desc})
        diff_ids.append(desc["digest"])
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(blobs, config)},
        "layers": layers}).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(blobs, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's libxcrypt does bcrypt ($2b$); no extra package needed

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH,
                                                  rounds=BCRYPT_COST_ROUNDS))


def start_registry(root: Path, auth: str, log: Path) -> Server:
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {json.dumps(str(root / 'storage'))}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: {secrets.token_hex(16)}\n" + auth)
    with log.open("wb") as out:
        process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
    server = Server("docker-registry", process, port, log)
    server.wait_ready("/v2/")
    return server


def _skopeo(*args: str) -> None:
    subprocess.run(["skopeo", *args], check=True, capture_output=True, timeout=300)


def push_pull(registry: Server, creds: str, image: Path, repo: str, out: Path) -> float:
    """Seconds for `skopeo copy` up then down."""
    ref = f"docker://127.0.0.1:{registry.port}/{repo}:v1"
    started = time.perf_counter()
    _skopeo("copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", creds,
            f"oci:{image}:latest", ref)
    _skopeo("copy", "--quiet", "--src-tls-verify=false", "--src-creds", creds, ref,
            f"dir:{out}")
    return time.perf_counter() - started


def run_e2e(work: Path, *, rounds: int, log_dir: Path) -> dict[str, Any]:
    print("e2e: skopeo push+pull, token auth vs htpasswd", flush=True)
    seeded = seed(work, backend="sqlite", n=1)
    key = seeded.keys_file.read_text().split()[0]
    iam = start_iam(seeded, workers=1, log=log_dir / "e2e-iam.log")
    registries: list[Server] = [iam]
    try:
        from iam.registry.trust_config import write_trust_files
        from iam.tokens.signing import load_keys

        bundle, _ = write_trust_files(load_keys(seeded.data_dir / "keys"), work / "trust")
        token_auth = ("auth:\n  token:\n"
                      f"    realm: {iam.url}/token\n    service: registry.local\n"
                      f"    issuer: registry-iam\n    rootcertbundle: {bundle}\n")
        htpasswd = work / "htpasswd"
        password = secrets.token_urlsafe(24)
        htpasswd.write_text(f"bench:{_bcrypt(password)}\n")
        basic_auth = f"auth:\n  htpasswd:\n    realm: bench\n    path: {htpasswd}\n"
        token_reg = start_registry(work / "reg-token", token_auth, log_dir / "reg-token.log")
        registries.append(token_reg)
        basic_reg = start_registry(work / "reg-basic", basic_auth, log_dir / "reg-basic.log")
        registries.append(basic_reg)
        setups = {"token": (token_reg, f"iamapikey:{key}"),
                  "htpasswd": (basic_reg, f"bench:{password}")}
        ns = namespace_name(0)
        results = []
        for r in range(rounds + 1):  # round 0 warms both paths up and is not counted
            order = ["token", "htpasswd"] if r % 2 else ["htpasswd", "token"]
            times: dict[str, float] = {}
            for mode in order:
                image = work / f"image-{r}-{mode}"
                write_image(image)
                registry, creds = setups[mode]
                times[mode] = push_pull(registry, creds, image, f"{ns}/app{r}",
                                        work / f"pulled-{r}-{mode}")
            if r:
                results.append({**times, "ratio": times["token"] / times["htpasswd"]})
                print(f"  round {r}: token {times['token']:.2f} s, htpasswd "
                      f"{times['htpasswd']:.2f} s", flush=True)
    finally:
        for server in reversed(registries):
            server.stop()
    return {
        "rounds": results,
        "median_token": median(x["token"] for x in results),
        "median_htpasswd": median(x["htpasswd"] for x in results),
        "median_ratio": median(x["ratio"] for x in results),
        "description": (f"{rounds} rounds (plus one warm-up), order alternating; each round "
                        f"pushes a fresh {LAYERS}-layer image ({LAYERS} x "
                        f"{LAYER_BYTES // 2**20} MiB, uncompressed random) to a new "
                        "repository, then pulls it to a `dir:`. htpasswd uses bcrypt cost 5 "
                        "(`htpasswd -B`'s default); the token path is `iam serve` (1 worker, "
                        "SQLite) with the registry's `auth.token` from our signing key."),
    }
