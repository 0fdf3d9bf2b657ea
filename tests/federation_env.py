"""What the federation tests share: a service whose issuer-key cache turns over fast, and
the admin calls that register an issuer and give a trusted profile a rule and a policy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from iam.api.app import create_app
from tests.conftest import Owner, bearer, fresh_settings, initialize
from tests.oidc_env import AUDIENCE

Headers = dict[str, str]
REGISTRY = "registry.local"
NAMESPACE = "team-a"
FAST_KEYS = {"issuer_keys_refresh": 1.0, "issuer_keys_max_age": 6.0,
             "issuer_refetch_interval": 0.5, "issuer_fetch_timeout": 2.0,
             "auth_max_failures": 10_000}  # the refusals tested would otherwise turn 429


@dataclass
class World:
    client: TestClient
    admin: Headers
    owner: Owner

    def ok(self, method: str, path: str, *, headers: Headers | None = None,
           **kw: Any) -> Any:
        r = self.client.request(method, path, headers=headers or self.admin, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def tagged(self, path: str) -> Headers:
        return {**self.admin, "If-Match": self.client.get(path, headers=self.admin)
                .headers["ETag"]}

    def register(self, url: str, **body: Any) -> dict[str, Any]:
        return dict(self.ok("POST", "/v1/issuers", json={
            "url": url, "audiences": [AUDIENCE], "allow_http": True, **body}))

    def register_id(self, url: str) -> str:
        found = [i for i in self.ok("GET", "/v1/issuers")["data"] if i["url"] == url]
        return str(found[0]["id"])

    def profile(self, name: str, issuer: str, conditions: list[dict[str, Any]], *,
                roles: tuple[str, ...] = ("Writer",), expiration: int | None = None,
                namespace: str = NAMESPACE) -> tuple[dict[str, Any], dict[str, Any]]:
        """A trusted profile with one rule and a container-registry policy on `namespace`."""
        profile = self.ok("POST", "/v1/profiles", json={"name": name})
        rule_body: dict[str, Any] = {"name": f"{name}-rule", "issuer": issuer,
                                     "conditions": conditions}
        if expiration is not None:
            rule_body["expiration"] = expiration
        rule = self.ok("POST", f"/v1/profiles/{profile['id']}/rules", json=rule_body)
        if roles:
            self.ok("POST", "/v1/policies", json={
                "subject": {"iam_id": profile["iam_id"]}, "roles": list(roles),
                "resource": {"service": "container-registry", "resource_type": "namespace",
                             "resource": namespace}})
        return profile, rule

    def registry_token(self, username: str, password: str, *scopes: str) -> Any:
        return self.client.get("/token", params={"service": REGISTRY, "scope": list(scopes)},
                               auth=(username, password))


def granted(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return [entry["actions"] for entry in claims["access"]]


def eq(claim: str, value: str, operator: str = "EQUALS") -> dict[str, Any]:
    return {"claim": claim, "operator": operator, "value": value}


@contextmanager
def federation_world(request: pytest.FixtureRequest, root: Path, backend: str,
                     **settings: Any) -> Iterator[World]:
    """A service on `backend` with the namespaces team-a and team-b, for one module."""
    base = fresh_settings(backend, request, root / "data")
    owner = initialize(base)
    with TestClient(create_app(base.model_copy(update={**FAST_KEYS, **settings}))) as client:
        world = World(client, bearer(client, owner.apikey), owner)
        world.ok("PUT", f"/v1/namespaces/{NAMESPACE}")
        world.ok("PUT", "/v1/namespaces/team-b")
        yield world
