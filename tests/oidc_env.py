"""A real, independent OIDC issuer for the federation tests: `oauth2-mock-server` from the
npm registry (tests/oidc_issuer/), started as a Node process; tokens shaped like GitHub
Actions', GitLab CI's and Kubernetes service accounts', minted by it with its own keys.

`ensure_installed` installs the package into tests/oidc_issuer/node_modules (git-ignored)
once, under a file lock (several test processes may start at once).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ISSUER_DIR = Path(__file__).resolve().parent / "oidc_issuer"
VERSION = json.loads((ISSUER_DIR / "package.json").read_text())["dependencies"][
    "oauth2-mock-server"]
NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"
AUDIENCE = "registry-iam"


def ensure_installed() -> None:
    installed = ISSUER_DIR / "node_modules" / "oauth2-mock-server" / "package.json"
    with (ISSUER_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed.exists() and json.loads(installed.read_text())["version"] == VERSION:
            return
        subprocess.run([NPM, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=ISSUER_DIR, check=True, capture_output=True, timeout=300)


@dataclass(frozen=True)
class Issuer:
    url: str

    def mint(self, claims: dict[str, Any], *, alg: str = "RS256", kid: str | None = None,
             expires_in: int = 300, header: dict[str, Any] | None = None,
             unset: tuple[str, ...] = ()) -> str:
        claims = {"jti": secrets.token_hex(8), **claims}  # each token its own, as platforms do
        body: dict[str, Any] = {"claims": claims, "alg": alg, "expires_in": expires_in,
                                "header": header or {}, "unset": list(unset)}
        if kid:
            body["kid"] = kid
        r = httpx.post(f"{self.url}/test/mint", json=body, timeout=10)
        r.raise_for_status()
        return str(r.json()["token"])

    def rotate(self, alg: str = "RS256") -> str:
        r = httpx.post(f"{self.url}/test/rotate", json={"alg": alg}, timeout=10)
        r.raise_for_status()
        return str(r.json()["kid"])

    def jwks(self) -> dict[str, Any]:
        r = httpx.get(f"{self.url}/jwks", timeout=10)
        r.raise_for_status()
        return dict(r.json())

    # -- tokens shaped like the platforms' ------------------------------------------------

    def github(self, repository: str = "acme/web", ref: str = "refs/heads/main",
               audience: str = AUDIENCE, **extra: Any) -> str:
        owner = repository.split("/")[0]
        return self.mint({"aud": audience, "sub": f"repo:{repository}:ref:{ref}",
                          "repository": repository, "repository_owner": owner, "ref": ref,
                          "ref_type": "branch", "workflow": "build", "event_name": "push",
                          "job_workflow_ref": f"{repository}/.github/workflows/build.yml@{ref}",
                          **extra})

    def gitlab(self, project: str = "acme/web", ref: str = "main",
               audience: str = AUDIENCE, **extra: Any) -> str:
        return self.mint({"aud": audience,
                          "sub": f"project_path:{project}:ref_type:branch:ref:{ref}",
                          "namespace_path": project.split("/")[0], "project_path": project,
                          "ref": ref, "ref_type": "branch", "ref_protected": "true",
                          "pipeline_source": "push", **extra})

    def kubernetes(self, namespace: str = "builds", account: str = "pusher",
                   audience: str = AUDIENCE, **extra: Any) -> str:
        return self.mint({"aud": [audience], "sub": f"system:serviceaccount:{namespace}:"
                                                    f"{account}",
                          "kubernetes.io": {"namespace": namespace,
                                            "serviceaccount": {"name": account,
                                                               "uid": "5e1f-uid"},
                                            "pod": {"name": f"{account}-7d9f", "uid": "p-1"}},
                          **extra})


@contextmanager
def running_issuers(count: int = 1) -> Iterator[tuple[list[Issuer], subprocess.Popen[str]]]:
    """`count` issuers in one Node process, stopped on exit."""
    ensure_installed()
    process = subprocess.Popen([NODE, str(ISSUER_DIR / "issuer.mjs"), str(count)],
                               cwd=ISSUER_DIR, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        urls = json.loads(line)["issuers"]
        issuers = [Issuer(u) for u in urls]
        for issuer in issuers:  # ready: its discovery answers
            deadline = time.monotonic() + 10
            while httpx.get(f"{issuer.url}/.well-known/openid-configuration",
                            timeout=2).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        yield issuers, process
    finally:
        stop(process)


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


# -- forgeries: what an attacker could send -------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(body))))


def unsigned(token: str) -> str:
    """The same claims with `alg: none` and no signature."""
    header, claims = _parts(token)
    header["alg"] = "none"
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def hs256_with_public_key(token: str, public_key: bytes) -> str:
    """The same claims, HS256-signed with the issuer's public key as the HMAC secret."""
    header, claims = _parts(token)
    header["alg"] = "HS256"
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(mac)}"


def header_of(token: str) -> dict[str, Any]:
    return _parts(token)[0]
