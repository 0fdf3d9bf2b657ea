"""A CI job with nothing but its platform's OIDC token logs in and pushes to exactly what its
rule allows: `iam serve`, the real `docker-registry`, skopeo and the docker CLI, and an
independent OIDC issuer (oauth2-mock-server). Set up through the `iam` CLI as the README
shows; the client integrations (`docker-credential-iam`, `iam pull-secret`,
`iam-kubelet-credential-provider`) driven as docker, skopeo and the kubelet drive them."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.oidc_env import AUDIENCE, Issuer, running_issuers
from tests.registry_env import (
    DOCKER_BIN,
    REGISTRY_BIN,
    SKOPEO_BIN,
    Registry,
    Run,
    build_image,
    run,
    start_registry,
)
from tests.server import BIN, Server, make_server

pytestmark = [
    pytest.mark.registry,
    pytest.mark.skipif(not all(os.path.exists(b) for b in (REGISTRY_BIN, SKOPEO_BIN, DOCKER_BIN)),
                       reason="docker-registry, skopeo or docker missing: "
                              "run scripts/ensure-system.sh (make test does)"),
]
SERVICE, REGION = "registry.us", "us-south"


@dataclass
class E2E:
    server: Server
    registry: Registry
    issuer: Issuer
    root: Path
    image: Path
    admin: dict[str, str]

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = httpx.request(method, f"{self.server.url}{path}", headers=self.admin, timeout=30,
                          **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def namespace_policy(self, iam_id: str, role: str) -> None:
        self.api("POST", "/v1/policies", json={
            "subject": {"iam_id": iam_id}, "roles": [role],
            "resource": {"service": "container-registry", "region": REGION,
                         "resource_type": "namespace", "resource": "team-a"}})

    def ref(self, repository: str) -> str:
        return f"docker://{self.registry.host}/{repository}"

    def skopeo(self, *args: str, auth_file: Path | None = None,
               env: dict[str, str] | None = None) -> Run:
        home = self.root / "skopeo"
        home.mkdir(exist_ok=True)
        policy = home / "policy.json"
        policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
        environment = {**os.environ, "HOME": str(home), "TMPDIR": str(home),
                       "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                       "REGISTRY_AUTH_FILE": str(auth_file or home / "none.json"), **(env or {})}
        return run([SKOPEO_BIN, "--policy", str(policy), *args], env=environment)

    def push(self, repository: str, creds: str | None = None, **kw: object) -> Run:
        extra = ["--dest-creds", creds] if creds else []
        return self.skopeo("copy", "--retry-times", "0", "--dest-tls-verify=false", *extra,
                           f"oci:{self.image}:latest", self.ref(repository), **kw)  # type: ignore[arg-type]

    def pull(self, repository: str, creds: str | None = None, **kw: object) -> Run:
        extra = ["--src-creds", creds] if creds else []
        back = self.root / f"back-{abs(hash((repository, creds)))}"
        return self.skopeo("copy", "--retry-times", "0", "--src-tls-verify=false", *extra,
                           self.ref(repository), f"oci:{back}:latest", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2E]:
    root = tmp_path_factory.mktemp("federation-e2e")
    with running_issuers(1) as ([issuer], _process):
        server = make_server(root / "iam", IAM_REGISTRIES=json.dumps(
            [{"service": SERVICE, "region": REGION}]), IAM_AUTH_MAX_FAILURES="1000")
        key = root / "owner.key"
        server.cli("init", "--apikey-file", str(key))
        server.start()
        try:
            server.cli("login", "--apikey", f"@{key}", "--endpoint", server.url)
            registry = start_registry(server, root / "registry", SERVICE)
            try:
                for namespace in ("team-a", "team-b"):
                    server.cli("namespace-add", namespace, "--region", REGION)
                server.cli("issuer-add", issuer.url, "--audience", AUDIENCE, "--allow-http")
                server.cli("trusted-profile-create", "ci-push")
                server.cli("trusted-profile-rule-create", "ci-push", "--name", "main",
                           "--issuer", issuer.url, "-c", "repository EQUALS acme/web",
                           "-c", "ref EQUALS refs/heads/main")
                server.cli("trusted-profile-policy-create", "ci-push", "--roles", "Writer",
                           "--service-name", "container-registry", "--region", REGION,
                           "--resource-type", "namespace", "--resource", "team-a")
                image = root / "image"
                build_image(image)
                r = httpx.post(f"{server.url}/identity/token", timeout=30, data={
                    "grant_type": "urn:ibm:params:oauth:grant-type:apikey",
                    "apikey": key.read_text().strip()})
                admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
                yield E2E(server, registry, issuer, root, image, admin)
            finally:
                registry.stop()
        finally:
            server.stop()


def denied(result: Run) -> bool:
    return result.code != 0 and any(m in result.output.lower() for m in (
        "denied", "unauthorized", "authentication required"))


# --- a CI job and its OIDC token ---------------------------------------------------------

def test_ci_token_pushes_to_its_namespace_and_not_to_another(e2e: E2E) -> None:
    token = e2e.issuer.github()
    pushed = e2e.push("team-a/web:1", f"iamprofile/ci-push:{token}")
    assert pushed.code == 0, pushed.output
    assert denied(e2e.push("team-b/web:1", f"iamprofile/ci-push:{token}"))


def test_token_of_another_branch_cannot_push(e2e: E2E) -> None:
    token = e2e.issuer.github(ref="refs/heads/feature")
    result = e2e.push("team-a/web:feature", f"iamprofile/ci-push:{token}")
    assert denied(result), result.output


def test_docker_login_with_the_ci_token_succeeds(e2e: E2E) -> None:
    result = _docker(e2e, "login", e2e.registry.host, "-u", "iamprofile/ci-push",
                     "--password-stdin", stdin=e2e.issuer.github() + "\n")
    assert result.code == 0 and "Login Succeeded" in result.stdout, result.output


def test_docker_login_with_an_expired_token_says_so(e2e: E2E) -> None:
    token = e2e.issuer.mint({"aud": AUDIENCE, "sub": "repo:acme/web:ref:refs/heads/main",
                             "repository": "acme/web", "ref": "refs/heads/main"},
                            expires_in=-300)
    result = _docker(e2e, "login", e2e.registry.host, "-u", "iamprofile/ci-push",
                     "--password-stdin", stdin=token + "\n")
    assert result.code != 0
    assert "the workload token has expired" in result.output


def test_trusted_profile_test_names_the_failing_condition(e2e: E2E) -> None:
    token = e2e.issuer.github(ref="refs/heads/dev")
    result = e2e.server.cli("trusted-profile-test", "ci-push", "--token", token, check=False)
    assert result.code == 1
    assert 'ref EQUALS "refs/heads/main": the token says "refs/heads/dev"' in result.stdout
    ok = e2e.server.cli("trusted-profile-test", "ci-push", "--token", e2e.issuer.github())
    assert ok.stdout.startswith("matched: rule ClaimRule-")


# --- docker-credential-iam -------------------------------------------------------------------

def _docker(e2e: E2E, *args: str, stdin: str | None = None,
            config: Path | None = None, env: dict[str, str] | None = None) -> Run:
    config = config or e2e.root / "docker-plain"
    config.mkdir(exist_ok=True)
    environment = {**os.environ, "DOCKER_CONFIG": str(config), "HOME": str(config),
                   "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    return run([DOCKER_BIN, *args], env=environment, stdin=stdin)


def _robot(e2e: E2E, name: str, role: str) -> str:
    """A service ID with `role` on team-a and a key (through the API: the CLI is the
    feature's, tested in the module's set-up)."""
    iam_id = e2e.api("POST", "/v1/serviceids", json={"name": name})["iam_id"]
    e2e.namespace_policy(iam_id, role)
    return str(e2e.api("POST", "/v1/apikeys", json={"name": f"{name}-key",
                                                    "iam_id": iam_id})["apikey"])


def test_credential_helper_keeps_the_login_out_of_dockers_config_and_serves_skopeo(
        e2e: E2E, tmp_path: Path) -> None:
    apikey = _robot(e2e, "helper-robot", "Writer")
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"credHelpers": {e2e.registry.host: "iam"}}))
    store = tmp_path / "helper" / "credentials.json"
    env = {"IAM_CREDENTIALS_FILE": str(store)}
    login = _docker(e2e, "login", e2e.registry.host, "-u", "iamapikey", "--password-stdin",
                    stdin=apikey + "\n", config=config, env=env)
    assert login.code == 0, login.output
    docker_config = (config / "config.json").read_text()
    assert apikey not in docker_config and '"auth"' not in docker_config
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {e2e.registry.host: "iam"}}))
    pushed = e2e.push("team-a/helper:1", auth_file=auth, env=env)
    assert pushed.code == 0, pushed.output
    assert apikey not in auth.read_text()


def test_credential_helper_with_a_workload_token_file_lets_skopeo_push(
        e2e: E2E, tmp_path: Path) -> None:
    token_file = tmp_path / "ci-job.jwt"
    token_file.write_text(e2e.issuer.github())
    store = tmp_path / "credentials.json"
    env = {**os.environ, "IAM_CREDENTIALS_FILE": str(store)}
    configured = run([str(BIN / "docker-credential-iam"), "configure", e2e.registry.host,
                      "--endpoint", e2e.server.url, "--token-file", str(token_file),
                      "--profile", "ci-push"], env=env)
    assert configured.code == 0, configured.output
    got = run([str(BIN / "docker-credential-iam"), "get"], env=env, stdin=e2e.registry.host)
    assert got.code == 0 and json.loads(got.stdout)["Username"] == "iambearer", got.output
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {e2e.registry.host: "iam"}}))
    assert e2e.push("team-a/from-file:1", auth_file=auth,
                    env={"IAM_CREDENTIALS_FILE": str(store)}).code == 0
    missing = run([str(BIN / "docker-credential-iam"), "get"], env=env, stdin="elsewhere:5000")
    assert missing.code == 1 and missing.stdout.strip() == "credentials not found in native " \
                                                           "keychain"


# --- iam pull-secret ---------------------------------------------------------------------------

def test_pull_secret_pulls_and_cannot_push(e2e: E2E, tmp_path: Path) -> None:
    _robot(e2e, "puller", "Reader")
    assert e2e.push("team-a/pulled:1", f"iamprofile/ci-push:{e2e.issuer.github()}").code == 0
    secret = e2e.server.cli("pull-secret", "--service-id", "puller", "--registry",
                            e2e.registry.host, "--expires-in", "1h", "--output", "json").json()
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    expires = datetime.fromisoformat(secret["metadata"]["annotations"]["registry-iam/expires-at"])
    assert 3500 < (expires - datetime.now(UTC)).total_seconds() <= 3600
    auth = tmp_path / "auth.json"
    auth.write_bytes(base64.b64decode(secret["data"][".dockerconfigjson"]))
    pulled = e2e.pull("team-a/pulled:1", auth_file=auth)
    assert pulled.code == 0, pulled.output
    assert denied(e2e.push("team-a/pulled:2", auth_file=auth))


def test_pull_secret_of_a_service_id_that_may_push_is_refused(e2e: E2E) -> None:
    _robot(e2e, "pusher", "Writer")
    result = e2e.server.cli("pull-secret", "--service-id", "pusher", "--registry",
                            e2e.registry.host, check=False)
    assert result.code == 1 and "must only pull" in result.stderr


def test_pull_secret_of_a_service_id_whose_group_may_push_is_refused(e2e: E2E) -> None:
    iam_id = e2e.api("POST", "/v1/serviceids", json={"name": "grouped-puller"})["iam_id"]
    e2e.namespace_policy(iam_id, "Reader")
    group = e2e.api("POST", "/v1/groups", json={"name": "pushers"})["id"]
    e2e.api("POST", f"/v1/groups/{group}/members", json={"iam_id": iam_id})
    e2e.api("POST", "/v1/policies", json={
        "subject": {"access_group_id": group}, "roles": ["Writer"],
        "resource": {"service": "container-registry", "region": REGION,
                     "resource_type": "namespace", "resource": "team-a"}})
    result = e2e.server.cli("pull-secret", "--service-id", "grouped-puller", "--registry",
                            e2e.registry.host, check=False)
    assert result.code == 1 and "must only pull" in result.stderr
    assert "access group 'pushers'" in result.stderr


# --- iam-kubelet-credential-provider -----------------------------------------------------------

def test_kubelet_plugin_answer_lets_skopeo_pull_with_the_pods_token(e2e: E2E) -> None:
    profile = e2e.api("POST", "/v1/profiles", json={"name": "builds-puller"})
    e2e.api("POST", f"/v1/profiles/{profile['id']}/rules", json={
        "name": "sa", "issuer": e2e.issuer.url, "conditions": [
            {"claim": "kubernetes.io.namespace", "operator": "EQUALS", "value": "builds"},
            {"claim": "kubernetes.io.serviceaccount.name", "operator": "EQUALS",
             "value": "puller"}]})
    e2e.namespace_policy(profile["iam_id"], "Reader")
    assert e2e.push("team-a/kube:1", f"iamprofile/ci-push:{e2e.issuer.github()}").code == 0
    request = {"kind": "CredentialProviderRequest",
               "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
               "image": f"{e2e.registry.host}/team-a/kube:1",
               "serviceAccountToken": e2e.issuer.kubernetes(namespace="builds",
                                                            account="puller"),
               "serviceAccountAnnotations": {"registry-iam.io/trusted-profile":
                                             "builds-puller"}}
    answer = run([str(BIN / "iam-kubelet-credential-provider"), "--endpoint", e2e.server.url],
                 stdin=json.dumps(request))
    assert answer.code == 0, answer.output
    response = json.loads(answer.stdout)
    assert response["kind"] == "CredentialProviderResponse"
    assert response["cacheKeyType"] == "Registry" and response["cacheDuration"].endswith("s")
    creds = response["auth"][e2e.registry.host]
    assert creds["username"] == "iambearer"
    pulled = e2e.pull("team-a/kube:1", f"iambearer:{creds['password']}")
    assert pulled.code == 0, pulled.output
    assert denied(e2e.push("team-a/kube:2", f"iambearer:{creds['password']}"))
