"""The non-escalation rule, as a generated table through the admin API.

Callers hold every combination of iam-identity, iam-access-management and container-registry
roles (account-wide and on one namespace); targets are the owner (here also the system
operator), identities holding more or less than the caller, and groups holding Administrator
or Reader; operations are every grant-like call. The expected answer comes from the rule,
applied by `Oracle` to the role files in `policies/` — nothing is typed in by hand:

    allowed = the caller holds the operation's action
              and the target is not the owner (unless it is the caller)
              and the caller could grant every policy the target carries afterwards,

where "could grant P" means: an account-wide iam-access-management role with
`iam-access-management.policy.manage`, or a role of P's service with `<service>.policy.manage`
on a scope covering P's. Allowed calls answer 2xx (or 412 for a stale If-Match: past the
guard, nothing changed) and are undone by the owner; refused ones answer 403 and change nothing.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from iam import bootstrap
from iam.api.app import create_app
from iam.config import Settings
from tests.conftest import BACKENDS, bearer, registries_in

ROLES_DIR = Path(__file__).resolve().parent.parent / "policies"
REGION = "us-south"
NS = "ns01"
PASSWORD = "correct horse battery"
Headers = dict[str, str]


# --- the rule, derived from the role files ------------------------------------------------

@dataclass(frozen=True)
class Pol:
    """A policy as the oracle sees it: service, roles, and a namespace ("" = all)."""

    service: str
    roles: tuple[str, ...]
    namespace: str = ""

    def body(self, subject: dict[str, str]) -> dict[str, Any]:
        resource: dict[str, str] = {"service": self.service}
        if self.namespace:
            resource.update(region=REGION, resource_type="namespace", resource=self.namespace)
        return {"subject": subject, "roles": list(self.roles), "resource": resource}


def _role_actions() -> dict[tuple[str, str], frozenset[str]]:
    table = {}
    for path in ROLES_DIR.glob("*.json"):
        data = json.loads(path.read_text())
        for role in data["roles"]:
            table[(data["service"], role["name"])] = frozenset(role["actions"])
    return table


ROLE_ACTIONS = _role_actions()


@dataclass(frozen=True)
class Oracle:
    policies: tuple[Pol, ...]

    def actions(self, pol: Pol) -> frozenset[str]:
        return frozenset().union(*(ROLE_ACTIONS[(pol.service, r)] for r in pol.roles))

    def holds(self, action: str) -> bool:
        """Identity and access-management actions are account-wide."""
        return any(not p.namespace and action in self.actions(p) for p in self.policies)

    def could_grant(self, target: Pol) -> bool:
        for p in self.policies:
            acts = self.actions(p)
            if (p.service == "iam-access-management" and not p.namespace
                    and "iam-access-management.policy.manage" in acts):
                return True
            if (p.service == target.service and f"{p.service}.policy.manage" in acts
                    and (not p.namespace or p.namespace == target.namespace)):
                return True
        return False

    def could_grant_all(self, policies: tuple[Pol, ...]) -> bool:
        return all(self.could_grant(p) for p in policies)


# --- callers -------------------------------------------------------------------------------

IDENTITY_ROLES = [None, "Viewer", "Operator", "Editor", "Administrator"]
ACCESS_ROLES = [None, "Viewer", "Editor", "Administrator"]
REGISTRY_GRANTS: list[tuple[Pol, ...]] = [
    (), (Pol("container-registry", ("Reader",), NS),),
    (Pol("container-registry", ("Administrator",), NS),),
    (Pol("container-registry", ("Manager", "Administrator")),),
]


def caller_policies() -> list[tuple[Pol, ...]]:
    combos = []
    for ident, access, registry in itertools.product(IDENTITY_ROLES, ACCESS_ROLES,
                                                     REGISTRY_GRANTS):
        pols = list(registry)
        if ident:
            pols.append(Pol("iam-identity", (ident,)))
        if access:
            pols.append(Pol("iam-access-management", (access,)))
        combos.append(tuple(pols))
    return combos


def caller_name(policies: tuple[Pol, ...]) -> str:
    return "+".join(f"{p.service.split('-')[-1]}:{'/'.join(p.roles)}"
                    f"{'@' + p.namespace if p.namespace else ''}" for p in policies) or "none"


# --- the world ------------------------------------------------------------------------------

GROUP_ADMIN = (Pol("iam-access-management", ("Administrator",)),)
GROUP_READER = (Pol("container-registry", ("Reader",), NS),)
TARGET_POLICIES: dict[str, tuple[Pol, ...]] = {
    "high_sid": (Pol("iam-access-management", ("Administrator",)),
                 Pol("container-registry", ("Manager",))),
    "low_sid": (Pol("container-registry", ("Reader",), NS),),
    "low_user": (Pol("container-registry", ("Reader",), NS),),
    "admin_group_user": GROUP_ADMIN,  # carried through its access group
    "high_profile": (Pol("iam-access-management", ("Administrator",)),
                     Pol("container-registry", ("Manager",))),
    "low_profile": (Pol("container-registry", ("Reader",), NS),),
}
ISSUER = "https://issuer.example"
ISSUER_JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1",
                         "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}
GRANTABLE = [Pol("container-registry", ("Reader",), NS), Pol("container-registry", ("Manager",)),
             Pol("iam-identity", ("Operator",)), Pol("iam-access-management", ("Administrator",))]


@dataclass
class World:
    client: TestClient
    owner: Headers
    owner_iam_id: str
    backend: str
    ids: dict[str, str] = field(default_factory=dict)  # target name -> iam_id / group id
    keys: dict[str, str] = field(default_factory=dict)  # target name -> a key id of it
    issuers: dict[str, str] = field(default_factory=dict)  # profile target -> its issuer
    bare: str = ""  # an identity with no policy: the member and policy subject used below
    callers: dict[tuple[Pol, ...], Headers] = field(default_factory=dict)

    def call(self, method: str, path: str, headers: Headers, **kw: Any) -> Any:
        return self.client.request(method, path, headers=headers, **kw)

    def owner_ok(self, method: str, path: str, **kw: Any) -> Any:
        r = self.call(method, path, self.owner, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.text}"
        return r.json() if r.content else None


def _settings(backend: str, request: pytest.FixtureRequest, root: Path,
              shared_data_dir: Path) -> Settings:
    data = root / "data"
    shutil.copytree(shared_data_dir, data)
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("sqlite_template"), data / "iam.db")
        return Settings(data_dir=data, database_url=f"sqlite:///{data / 'iam.db'}",
                        registries=registries_in(REGION))
    url = request.getfixturevalue("pg_database")
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' "
            "AND tablename NOT IN ('alembic_version', 'authz_generation')")).scalars().all()
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return Settings(data_dir=data, database_url=url, registries=registries_in(REGION))


def _world(backend: str, request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Iterator[World]:
    settings = _settings(backend, request, tmp_path_factory.mktemp("table"), shared_data_dir)
    init = bootstrap.initialize(settings)
    assert init.new_account is not None
    with TestClient(create_app(settings)) as client:
        owner = bearer(client, init.new_account.apikey)
        w = World(client, owner, init.new_account.owner.iam_id, backend)
        w.owner_ok("PUT", f"/v1/namespaces/{NS}", params={"region": REGION})
        for name, pols in (("admin_group", GROUP_ADMIN), ("reader_group", GROUP_READER)):
            gid = w.owner_ok("POST", "/v1/groups", json={"name": name})["id"]
            w.ids[name] = gid
            for p in pols:
                w.owner_ok("POST", "/v1/policies", json=p.body({"access_group_id": gid}))
        for name in ("high_sid", "low_sid"):
            w.ids[name] = w.owner_ok("POST", "/v1/serviceids", json={"name": name})["iam_id"]
        for name in ("low_user", "admin_group_user"):
            w.ids[name] = w.owner_ok("POST", "/v1/users",
                                     json={"name": name, "password": PASSWORD})["iam_id"]
        w.owner_ok("POST", f"/v1/groups/{w.ids['admin_group']}/members",
                   json={"iam_id": w.ids["admin_group_user"]})
        w.owner_ok("POST", "/v1/issuers", json={"url": ISSUER, "audiences": ["registry-iam"],
                                                "jwks": ISSUER_JWKS})
        for name in ("high_profile", "low_profile"):
            w.ids[name] = w.owner_ok("POST", "/v1/profiles", json={"name": name})["iam_id"]
            # an issuer of its own, which a rule of the profile names (issuer-update below)
            w.issuers[name] = w.owner_ok("POST", "/v1/issuers", json={
                "url": f"{ISSUER}/{name}", "audiences": ["registry-iam"],
                "jwks": ISSUER_JWKS})["id"]
            w.owner_ok("POST", f"/v1/profiles/{w.ids[name]}/rules", json={
                "name": "kept", "issuer": f"{ISSUER}/{name}",
                "conditions": [{"claim": "sub", "operator": "EQUALS", "value": "kept"}]})
        for name in ("high_sid", "low_sid", "low_user", "high_profile", "low_profile"):
            for p in TARGET_POLICIES[name]:
                w.owner_ok("POST", "/v1/policies", json=p.body({"iam_id": w.ids[name]}))
        w.ids["owner"] = w.owner_iam_id
        w.bare = w.owner_ok("POST", "/v1/serviceids", json={"name": "bare"})["iam_id"]
        for name in ("owner", "high_sid", "low_sid", "low_user", "admin_group_user"):
            w.keys[name] = w.owner_ok("POST", "/v1/apikeys",
                                      json={"name": "kept", "iam_id": w.ids[name]})["id"]
        yield w


# One world per backend, each built once for the module (a parametrized module fixture was
# rebuilt whenever the three tests' parameters alternated between backends).
@pytest.fixture(scope="module")
def world_sqlite(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 shared_data_dir: Path) -> Iterator[World]:
    yield from _world("sqlite", request, tmp_path_factory, shared_data_dir)


@pytest.fixture(scope="module")
def world_postgresql(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     shared_data_dir: Path) -> Iterator[World]:
    yield from _world("postgresql", request, tmp_path_factory, shared_data_dir)


@pytest.fixture
def world(request: pytest.FixtureRequest, store: str) -> World:
    found: World = request.getfixturevalue(f"world_{store}")
    return found


# --- operations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One grant-like call: its name, the action it needs (by target kind) and how to run
    it as `caller`; `run` returns the status and undoes what an allowed call did."""

    name: str
    run: Callable[[World, Headers, str], int]
    sid_action: str = ""
    user_action: str = ""
    profile_action: str = ""


def _key_create(w: World, h: Headers, target: str) -> int:
    r = w.call("POST", "/v1/apikeys", h, json={"name": "new", "iam_id": w.ids[target]})
    if r.status_code == 201:
        w.owner_ok("DELETE", f"/v1/apikeys/{r.json()['id']}")
    return int(r.status_code)


def _flag(path: Callable[[World, str], str]) -> Callable[[World, Headers, str], int]:
    """POST a flag (lock, disable) at `path(world, target)`; the owner takes it off again."""
    def run(w: World, h: Headers, target: str) -> int:
        r = w.call("POST", path(w, target), h)
        if r.status_code == 200:
            w.owner_ok("DELETE", path(w, target))
        return int(r.status_code)
    return run


def _key_flag(flag: str) -> Callable[[World, Headers, str], int]:
    return _flag(lambda w, target: f"/v1/apikeys/{w.keys[target]}/{flag}")


def _lock(collection: str) -> Callable[[World, Headers, str], int]:
    return _flag(lambda w, target: f"/v1/{collection}/{w.ids[target]}/lock")


def _key_rename(w: World, h: Headers, target: str) -> int:
    r = w.call("PUT", f"/v1/apikeys/{w.keys[target]}", {**h, "If-Match": "stale"},
               json={"name": "renamed"})
    return int(r.status_code)


def _key_delete(w: World, h: Headers, target: str) -> int:
    key = w.owner_ok("POST", "/v1/apikeys", json={"name": "doomed", "iam_id": w.ids[target]})
    r = w.call("DELETE", f"/v1/apikeys/{key['id']}", h)
    if r.status_code != 204:
        w.owner_ok("DELETE", f"/v1/apikeys/{key['id']}")
    return int(r.status_code)


def _rename(collection: str) -> Callable[[World, Headers, str], int]:
    def run(w: World, h: Headers, target: str) -> int:
        r = w.call("PUT", f"/v1/{collection}/{w.ids[target]}", {**h, "If-Match": "stale"},
                   json={"name": "renamed"})
        return int(r.status_code)
    return run


def _password(w: World, h: Headers, target: str) -> int:
    r = w.call("PUT", f"/v1/users/{w.ids[target]}/password", h, json={"password": PASSWORD})
    return int(r.status_code)


def _profile_rename(w: World, h: Headers, target: str) -> int:
    r = w.call("PUT", f"/v1/profiles/{w.ids[target]}", {**h, "If-Match": "stale"},
               json={"name": "renamed"})
    return int(r.status_code)


def _rule_create(w: World, h: Headers, target: str) -> int:
    """A claim rule says who may become the profile: a credential of it."""
    rules = f"/v1/profiles/{w.ids[target]}/rules"
    r = w.call("POST", rules, h, json={"name": "ci", "issuer": ISSUER, "conditions": [
        {"claim": "sub", "operator": "EQUALS", "value": "repo:acme/web:ref:refs/heads/main"}]})
    if r.status_code == 201:
        w.owner_ok("DELETE", f"{rules}/{r.json()['id']}")
    return int(r.status_code)


def _rule_delete(w: World, h: Headers, target: str) -> int:
    rules = f"/v1/profiles/{w.ids[target]}/rules"
    rule = w.owner_ok("POST", rules, json={"name": "doomed", "issuer": ISSUER, "conditions": [
        {"claim": "sub", "operator": "EQUALS", "value": "x"}]})
    r = w.call("DELETE", f"{rules}/{rule['id']}", h)
    if r.status_code != 204:
        w.owner_ok("DELETE", f"{rules}/{rule['id']}")
    return int(r.status_code)


KEY_OPS = [
    Op("apikey-create", _key_create, "iam-identity.apikey.create", "iam-identity.user.update"),
    Op("apikey-rename", _key_rename, "iam-identity.apikey.update", "iam-identity.user.update"),
    Op("apikey-disable", _key_flag("disable"), "iam-identity.apikey.update",
       "iam-identity.user.update"),
    Op("apikey-lock", _key_flag("lock"), "iam-identity.apikey.lock", "iam-identity.user.update"),
    Op("apikey-delete", _key_delete, "iam-identity.apikey.delete", "iam-identity.user.update"),
]
SID_OPS = [Op("serviceid-rename", _rename("serviceids"), "iam-identity.serviceid.update"),
           Op("serviceid-lock", _lock("serviceids"), "iam-identity.serviceid.lock")]
USER_OPS = [Op("user-rename", _rename("users"), user_action="iam-identity.user.update"),
            Op("user-lock", _lock("users"), user_action="iam-identity.user.update"),
            Op("user-password-set", _password, user_action="iam-identity.user.update")]
def _issuer_update(w: World, h: Headers, target: str) -> int:
    """An issuer a rule of the profile names: changing its keys changes who becomes it."""
    r = w.call("PUT", f"/v1/issuers/{w.issuers[target]}", {**h, "If-Match": "stale"},
               json={"max_token_age": 600})
    return int(r.status_code)


PROFILE_OPS = [Op("profile-rename", _profile_rename,
                  profile_action="iam-identity.profile.update"),
               Op("rule-create", _rule_create, profile_action="iam-identity.profile.update"),
               Op("rule-delete", _rule_delete, profile_action="iam-identity.profile.update"),
               Op("issuer-update", _issuer_update,
                  profile_action="iam-identity.issuer.manage")]
IDENTITY_TARGETS = {"owner": KEY_OPS + SID_OPS, "high_sid": KEY_OPS + SID_OPS,
                    "low_sid": KEY_OPS + SID_OPS, "low_user": KEY_OPS + USER_OPS,
                    "admin_group_user": KEY_OPS + USER_OPS,
                    "high_profile": PROFILE_OPS, "low_profile": PROFILE_OPS}  # no keys


def expected_identity(oracle: Oracle, op: Op, target: str) -> bool:
    action = (op.user_action if target.endswith("user")
              else op.profile_action if target.endswith("profile") else op.sid_action)
    if not oracle.holds(action):
        return False
    if target == "owner":
        return False
    return oracle.could_grant_all(TARGET_POLICIES[target])


def _allowed(status: int) -> bool:
    assert status in (200, 201, 204, 403, 412), status
    return status != 403


CALLERS = caller_policies()


def on_postgresql(index: int) -> bool:
    """PostgreSQL runs a Latin square of the callers (each role of each service meets every
    role of the others' neighbours): 20 of 80, where the SQLite file runs them all. The rule
    is the same code on both; what PostgreSQL adds is its own reading of the same queries."""
    i, rest = divmod(index, len(ACCESS_ROLES) * len(REGISTRY_GRANTS))
    a, r = divmod(rest, len(REGISTRY_GRANTS))
    return (i + a + r) % len(REGISTRY_GRANTS) == 0


CASES = [pytest.param(backend, pols, id=f"{backend}-{caller_name(pols)}")
         for backend in BACKENDS for index, pols in enumerate(CALLERS)
         if backend != "postgresql" or on_postgresql(index)]


@pytest.fixture
def callers(world: World) -> dict[tuple[Pol, ...], Headers]:
    """Each caller: a service ID with its policies, created by the owner, and its token
    (made once per world)."""
    made = world.callers
    if made:
        return made
    for i, pols in enumerate(CALLERS):
        if world.backend == "postgresql" and not on_postgresql(i):
            continue
        iam_id = world.owner_ok("POST", "/v1/serviceids", json={"name": f"caller-{i}"})["iam_id"]
        for p in pols:
            world.owner_ok("POST", "/v1/policies", json=p.body({"iam_id": iam_id}))
        key = world.owner_ok("POST", "/v1/apikeys", json={"name": "k", "iam_id": iam_id})
        made[pols] = bearer(world.client, key["apikey"])
    return made


def test_callers_cover_every_role_combination() -> None:
    assert len(CALLERS) == len(IDENTITY_ROLES) * len(ACCESS_ROLES) * len(REGISTRY_GRANTS)


def test_postgresql_sample_meets_every_role_of_every_service() -> None:
    sample = [pols for i, pols in enumerate(CALLERS) if on_postgresql(i)]
    assert len(sample) == len(CALLERS) // len(REGISTRY_GRANTS)
    for options, pick in ((IDENTITY_ROLES, "iam-identity"),
                          (ACCESS_ROLES, "iam-access-management")):
        held = {next((p.roles[0] for p in pols if p.service == pick), None) for pols in sample}
        assert held == set(options)
    assert {tuple(p for p in pols if p.service == "container-registry") for pols in sample} == \
        set(REGISTRY_GRANTS)


@pytest.mark.parametrize(("store", "pols"), CASES)
def test_identity_operations_follow_the_rule(world: World,
                                             callers: dict[tuple[Pol, ...], Headers],
                                             pols: tuple[Pol, ...]) -> None:
    """Keys, names, locks and passwords of every target, names and claim rules of trusted
    profiles, by every caller."""
    oracle, headers = Oracle(pols), callers[pols]
    wrong = []
    for target, kind_ops in IDENTITY_TARGETS.items():
        for op in kind_ops:
            want = expected_identity(oracle, op, target)
            got = _allowed(op.run(world, headers, target))
            if got != want:
                wrong.append(f"{op.name} on {target}: expected "
                             f"{'allowed' if want else 'denied'}")
    assert not wrong, wrong


@pytest.mark.parametrize(("store", "pols"), CASES)
def test_group_memberships_follow_the_rule(world: World,
                                           callers: dict[tuple[Pol, ...], Headers],
                                           pols: tuple[Pol, ...]) -> None:
    """Adding or removing a member needs the right to grant every policy of the group."""
    oracle, headers = Oracle(pols), callers[pols]
    wrong = []
    for group, group_pols in (("admin_group", GROUP_ADMIN), ("reader_group", GROUP_READER)):
        want = (oracle.holds("iam-access-management.group.update")
                and oracle.could_grant_all(group_pols))
        members = f"/v1/groups/{world.ids[group]}/members"
        added = world.call("POST", members, headers, json={"iam_id": world.bare}).status_code
        if added != 201:
            world.owner_ok("POST", members, json={"iam_id": world.bare})
        removed = world.call("DELETE", f"{members}/{world.bare}", headers).status_code
        if removed != 204:
            world.owner_ok("DELETE", f"{members}/{world.bare}")
        for op, status in (("add", added), ("remove", removed)):
            if _allowed(status) != want:
                wrong.append(f"member {op} on {group}: expected "
                             f"{'allowed' if want else 'denied'}")
    assert not wrong, wrong


@pytest.mark.parametrize(("store", "pols"), CASES)
def test_policy_changes_follow_the_rule(world: World, callers: dict[tuple[Pol, ...], Headers],
                                        pols: tuple[Pol, ...]) -> None:
    """Create, change (from a Reader policy) and delete policies of every scope."""
    oracle, headers = Oracle(pols), callers[pols]
    subject = {"iam_id": world.bare}
    reader = GRANTABLE[0]
    wrong = []
    for pol in GRANTABLE:
        r = world.call("POST", "/v1/policies", headers, json=pol.body(subject))
        if r.status_code == 201:
            world.owner_ok("DELETE", f"/v1/policies/{r.json()['id']}")
        if _allowed(r.status_code) != oracle.could_grant(pol):
            wrong.append(f"create {pol}")
        mine = world.owner_ok("POST", "/v1/policies", json=pol.body(subject))
        r = world.call("DELETE", f"/v1/policies/{mine['id']}", headers)
        if r.status_code != 204:
            world.owner_ok("DELETE", f"/v1/policies/{mine['id']}")
        if _allowed(r.status_code) != oracle.could_grant(pol):
            wrong.append(f"delete {pol}")
        if pol.service != reader.service:
            continue  # a policy's service is part of what it is: changed within a service
        base = world.owner_ok("POST", "/v1/policies", json=reader.body(subject)) \
            if pol != reader else None
        if base is None:
            continue
        body = pol.body(subject)
        r = world.call("PUT", f"/v1/policies/{base['id']}",
                       {**headers, "If-Match": base["entity_tag"]}, json=body)
        world.owner_ok("DELETE", f"/v1/policies/{base['id']}")
        want = oracle.could_grant(reader) and oracle.could_grant(pol)
        if _allowed(r.status_code) != want:
            wrong.append(f"change Reader@{NS} to {pol}")
    assert not wrong, wrong
