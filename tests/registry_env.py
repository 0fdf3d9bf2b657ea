"""The real parts: `iam serve`, `docker-registry serve` instances, skopeo and the docker CLI.

Registries are configured by `iam registry-config` exactly as the README tells a user, each
on a free port of 127.0.0.1 with filesystem storage in a temporary directory. Test images are
OCI layouts written here in Python: no docker daemon is involved.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.server import READY_TIMEOUT_S, Server, free_port, make_server

REGISTRY_BIN = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SKOPEO_BIN = shutil.which("skopeo") or "/usr/bin/skopeo"
DOCKER_BIN = shutil.which("docker") or "/usr/local/bin/docker"
TIMEOUT = 60
_REQUEST = re.compile(r'"([A-Z]+) (/v2/\S*) HTTP/[0-9.]+"')


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(args: list[str], *, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
    proc = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env,
                          timeout=TIMEOUT, check=False)
    return Run(proc.returncode, proc.stdout, proc.stderr)


# --- registries -----------------------------------------------------------------------------


@dataclass
class Registry:
    """One `docker-registry serve`, trusting the token service through `auth.token`."""

    root: Path
    service: str
    auth_section: str
    storage: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    access_log: bool = False  # every request a line in registry.log (`requests()`)
    address: str = "127.0.0.1"
    tls: tuple[Path, Path] | None = None  # (certificate, key): served over HTTPS
    verify: ssl.SSLContext | None = None  # what this helper checks an HTTPS registry with

    @property
    def host(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def config(self) -> str:
        indented = "".join(f"{line}\n" for line in self.auth_section.splitlines())
        return (
            "version: 0.1\n"
            "log:\n  level: warn\n  accesslog:\n"
            f"    disabled: {'false' if self.access_log else 'true'}\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {json.dumps(str(self.storage))}\n"
            "  delete:\n    enabled: true\n"
            "  cache:\n    blobdescriptor: inmemory\n"
            f"http:\n  addr: {self.host}\n  secret: {secrets.token_hex(16)}\n"
            + (f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n"
               if self.tls else "")
            + indented
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / f"config-{self.port}.yml"
        config.write_text(self.config())
        log = (self.root / "registry.log").open("ab")
        self.process = subprocess.Popen([REGISTRY_BIN, "serve", str(config)],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"docker-registry exited:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1,
                             verify=self.verify or True).status_code == 401:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"docker-registry not ready after {READY_TIMEOUT_S:.0f} s:\n"
                             f"{self.logs()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def logs(self) -> str:
        path = self.root / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request in the access log so far (`access_log`)."""
        return _REQUEST.findall(self.logs())


def registry_config(server: Server, service: str, out: Path) -> str:
    """`iam registry-config` as a user runs it; returns the printed `auth.token` section."""
    result = server.cli("registry-config", "--service", service, "--realm",
                        f"{server.url}/token", "--out", str(out))
    return result.stdout


def start_registry(server: Server, root: Path, service: str,
                   storage: Path | None = None, *, port: int | None = None,
                   access_log: bool = False) -> Registry:
    section = registry_config(server, service, root / "trust")
    registry = Registry(root=root, service=service, auth_section=section,
                        storage=storage or root / "storage", access_log=access_log)
    if port is not None:
        registry.port = port
    registry.start()
    return registry


@dataclass
class Environment:
    """An `iam serve` with two registries of two regions, and the owner's admin headers."""

    server: Server
    registries: dict[str, Registry]
    owner_key: str
    admin: dict[str, str]
    root: Path

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return httpx.request(method, f"{self.server.url}{path}", headers=self.admin,
                             timeout=10, **kw)

    def stop(self) -> None:
        for registry in self.registries.values():
            registry.stop()
        self.server.stop()


REGIONS = {"registry.us": "us-south", "registry.eu": "eu-de"}


def start_environment(root: Path, *, content: bool = False, **env: str) -> Environment:
    """With `content`, the service knows each registry's url (content operations) and the
    registries log every request."""
    ports = {service: free_port() for service in REGIONS}
    registries = json.dumps([
        {"service": s, "region": r, **({"url": f"http://127.0.0.1:{ports[s]}"} if content
                                       else {})} for s, r in REGIONS.items()])
    server = make_server(root / "iam", IAM_REGISTRIES=registries, **env)
    key_file = root / "owner.key"
    server.cli("init", "--apikey-file", str(key_file))
    server.start()
    owner_key = key_file.read_text().strip()
    r = httpx.post(f"{server.url}/identity/token", timeout=10, data={
        "grant_type": "urn:ibm:params:oauth:grant-type:apikey", "apikey": owner_key})
    r.raise_for_status()
    admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
    started: dict[str, Registry] = {}
    try:
        for service in REGIONS:
            started[service] = start_registry(server, root / service, service,
                                              port=ports[service], access_log=content)
    except BaseException:
        for registry in started.values():
            registry.stop()
        server.stop()
        raise
    return Environment(server, started, owner_key, admin, root)


# --- identities and policies through the admin API ------------------------------------------


@dataclass(frozen=True)
class Robot:
    iam_id: str
    apikey_id: str
    apikey: str = field(repr=False)


def create_robot(env: Environment, name: str,
                 grants: list[tuple[str, str, str]] = ()) -> Robot:  # type: ignore[assignment]
    """A service ID with a key and policies `(role, namespace, region)`."""
    r = env.api("POST", "/v1/serviceids", json={"name": name})
    assert r.status_code == 201, r.text
    iam_id = r.json()["iam_id"]
    r = env.api("POST", "/v1/apikeys", json={"name": f"{name}-key", "iam_id": iam_id})
    assert r.status_code == 201, r.text
    robot = Robot(iam_id, r.json()["id"], r.json()["apikey"])
    for role, namespace, region in grants:
        body = {"subject": {"iam_id": iam_id}, "roles": [role],
                "resource": {"service": "container-registry", "region": region,
                             "resource_type": "namespace", "resource": namespace}}
        r = env.api("POST", "/v1/policies", json=body)
        assert r.status_code == 201, r.text
    return robot


def create_namespace(env: Environment, name: str, region: str) -> None:
    r = env.api("PUT", f"/v1/namespaces/{name}", params={"region": region})
    assert r.status_code in (200, 201), r.text


# --- OCI images -----------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_image(layout: Path, *, content: bytes | None = None, tag: str = "latest") -> str:
    """Write a one-layer OCI image layout; returns the manifest digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    payload = content if content is not None else secrets.token_bytes(2048)
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(payload), 0, 0o644
        tar.addfile(info, io.BytesIO(payload))
    raw = tar_bytes.getvalue()
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
             **_blob(layout, gzip.compress(raw, mtime=0))}
    config = {"architecture": "amd64", "os": "linux", "config": {},
              "rootfs": {"type": "layers",
                         "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]}}
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(layout, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer]}
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     **_blob(layout, json.dumps(manifest).encode()),
                     "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [manifest_desc]}))
    return str(manifest_desc["digest"])


def build_index(layout: Path, *, platforms: tuple[tuple[str, str], ...] = (
        ("linux", "amd64"), ("linux", "arm64")), tag: str = "latest",
        labels: dict[str, str] | None = None, env: list[str] | None = None) -> str:
    """Write an OCI layout whose `tag` is a multi-platform index (one one-layer image per
    (os, architecture)); returns the index digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    children = []
    for os_name, arch in platforms:
        payload = secrets.token_bytes(1024)  # compressed already: skopeo pushes it as is
        layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                 **_blob(layout, gzip.compress(payload, mtime=0))}
        config = {"architecture": arch, "os": os_name, "created": "2026-01-02T03:04:05Z",
                  "config": {"Labels": labels or {}, "Env": env or []},
                  "rootfs": {"type": "layers",
                             "diff_ids": [f"sha256:{hashlib.sha256(payload).hexdigest()}"]}}
        config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json",
                       **_blob(layout, json.dumps(config).encode())}
        manifest = {"schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer]}
        children.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         **_blob(layout, json.dumps(manifest).encode()),
                         "platform": {"os": os_name, "architecture": arch}})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": children}
    index_desc = {"mediaType": "application/vnd.oci.image.index.v1+json",
                  **_blob(layout, json.dumps(index).encode()),
                  "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "manifests": [index_desc]}))
    return str(index_desc["digest"])


def layout_blobs(layout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (layout / "blobs" / "sha256").iterdir()}


# --- skopeo and docker ----------------------------------------------------------------------


class Skopeo:
    """skopeo with its own policy and auth file, plain HTTP to the loopback registries."""

    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.policy = root / "policy.json"
        self.policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        self.env = {**os.environ, "REGISTRY_AUTH_FILE": str(root / "auth.json"),
                    "TMPDIR": str(root), "HOME": str(root)}

    def _run(self, *args: str) -> Run:
        return run([SKOPEO_BIN, "--policy", str(self.policy), *args], env=self.env)

    def copy(self, source: str, dest: str, *, src_key: str | None = None,
             dest_key: str | None = None, all_platforms: bool = False) -> Run:
        args = ["copy", "--retry-times", "0", *(["--all"] if all_platforms else [])]
        if source.startswith("docker://"):
            args.append("--src-tls-verify=false")
            if src_key:
                args += ["--src-creds", f"iamapikey:{src_key}"]
        if dest.startswith("docker://"):
            args.append("--dest-tls-verify=false")
            if dest_key:
                args += ["--dest-creds", f"iamapikey:{dest_key}"]
        return self._run(*args, source, dest)

    def inspect(self, ref: str, key: str) -> Run:
        return self._run("inspect", "--raw", "--tls-verify=false", "--creds",
                         f"iamapikey:{key}", ref)

    def delete(self, ref: str, key: str) -> Run:
        return self._run("delete", "--tls-verify=false", "--creds", f"iamapikey:{key}", ref)


def docker_login(config_dir: Path, host: str, username: str, password: str,
                 **extra_env: str) -> Run:
    """The real docker CLI (no daemon needed for login), with its own DOCKER_CONFIG."""
    config_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir), "HOME": str(config_dir),
           **extra_env}
    return run([DOCKER_BIN, "login", host, "-u", username, "--password-stdin"], env=env,
               stdin=password + "\n")
