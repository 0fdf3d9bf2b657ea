"""Drive a server with wrk (one thread: the machine's cores are shared with the server)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

SCRIPT = Path(__file__).resolve().parent / "wrk_token.lua"
KEY_MODES = ("token", "identity")  # the wrk_token.lua modes that send a seeded key


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_wrk(url: str, *, keys_file: Path, mode: str, connections: int,
            duration: float) -> LoadResult:
    """One closed-loop wrk run; non-2xx/3xx answers and socket errors count as errors."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(SCRIPT), url, "--", str(keys_file), mode]
    out = subprocess.run(argv, check=True, capture_output=True, text=True,
                         timeout=duration + 60).stdout
    line = next(x for x in reversed(out.splitlines()) if x.startswith("{"))
    data = json.loads(line)
    seconds = data["duration_us"] / 1e6
    return LoadResult(rps=data["requests"] / seconds, p50_ms=data["p50_us"] / 1000,
                      p99_ms=data["p99_us"] / 1000, errors=data["errors"],
                      requests=data["requests"])


def warm_every_key(url: str, *, keys_file: Path, mode: str, threads: int = 8) -> None:
    """One request per sampled key, so that the measured run sees the steady state of a
    fleet whose keys have all been used once (the token cache holds each key's decision);
    `cache off` cases in the report show the cost without it."""
    from concurrent.futures import ThreadPoolExecutor

    if mode not in KEY_MODES:
        return  # healthz: no credential, nothing to warm
    pairs = [line.split() for line in keys_file.read_text().splitlines() if line.strip()]
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda pair: key_request(client, url, mode, *pair), pairs))


def key_request(client: httpx.Client, url: str, mode: str, key: str,
                namespace: str) -> httpx.Response:
    """One request with a seeded key, as wrk_token.lua sends it: `token` (GET /token, a
    push scope on the key's namespace) or `identity` (POST /identity/token)."""
    if mode == "identity":
        return client.post(f"{url}/identity/token", data={
            "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": key})
    if mode == "token":
        return client.get(f"{url}/token", params={
            "service": "registry.local", "scope": f"repository:{namespace}/app:pull,push"},
            auth=("iamapikey", key))
    raise ValueError(f"no key request for mode {mode!r}; one of {KEY_MODES}")
