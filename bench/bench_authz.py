"""Benchmark of policy evaluation: `held_actions` for one identity among 100,000 policies.

Run: `.venv/bin/python -m bench.bench_authz [--policies N] [--iterations N] [--backends
sqlite,postgresql]`. Seeds a throw-away database per backend (SQLite file in a temporary
folder; PostgreSQL database on 127.0.0.1:5432, user postgres, dropped at the end), then
times held_actions for one identity that has 10 own policies and is in 2 access groups with
5 policies each, and for one with no policy. Prints p50/p99 per backend (not a timed test:
the figures go to BENCHMARKS.md, section "Policy evaluation").
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from iam.access import roles
from iam.access.authz import held_actions
from iam.identity.authn import Principal
from iam.store.db import make_engine, migrate
from iam.store.models import AccessGroup, Account, GroupMember, Namespace, Policy, utcnow

PG_ADMIN_URL = os.environ.get("IAM_BENCH_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ACCOUNTS = 100
ROLES = ["Reader", "Writer", "Manager", "Reader,Writer", "Administrator,Manager"]


def seed(engine: Engine, n_policies: int) -> Principal:
    """n_policies spread over many identities in 100 accounts; returns the measured one."""
    now = utcnow()
    accounts = [{"id": f"acct{i:04d}", "name": f"a{i}", "owner_iam_id": "", "is_system": False,
                 "created_at": now} for i in range(ACCOUNTS)]
    namespaces = [{"id": f"Namespace-{i}", "account_id": f"acct{i % ACCOUNTS:04d}",
                   "region": "us-south", "name": f"ns-{i:05d}", "created_at": now}
                  for i in range(ACCOUNTS * 20)]
    me = f"iam-ServiceId-{uuid.uuid4()}"
    my_account = "acct0000"
    groups = [{"id": f"AccessGroup-{i}", "account_id": my_account, "name": f"g{i}",
               "description": "", "created_at": now, "modified_at": now, "entity_tag": "t"}
              for i in range(2)]
    members = [{"group_id": g["id"], "iam_id": me, "account_id": my_account,
                "created_at": now} for g in groups]

    def policy(i: int, subject: str | None, group: str | None, account: str,
               ns: str = "") -> dict[str, object]:
        return {"id": f"Policy-{i:07d}", "account_id": account, "subject_iam_id": subject,
                "subject_group_id": group, "roles": ROLES[i % len(ROLES)],
                "service": "container-registry", "region": "" if i % 3 else "us-south",
                "resource_type": "namespace" if ns else "", "resource": ns,
                "repository": "web-*" if i % 7 == 0 else "", "created_by": "",
                "created_at": now, "modified_at": now, "entity_tag": "t"}

    mine = [policy(i, me, None, my_account, f"ns-{(i * ACCOUNTS):05d}") for i in range(10)]
    mine += [policy(10 + i, None, groups[i % 2]["id"], my_account,
                    f"ns-{((i + 10) * ACCOUNTS):05d}") for i in range(10)]
    rows = list(mine)
    others = n_policies - len(mine)
    for i in range(others):
        account = f"acct{i % ACCOUNTS:04d}"
        ns = f"ns-{(i % (ACCOUNTS * 20)):05d}" if i % 2 else ""
        rows.append(policy(100 + i, f"iam-ServiceId-{i // 10:06d}", None, account, ns))
    with engine.begin() as conn:
        conn.execute(insert(Account), accounts)
        conn.execute(insert(Namespace), namespaces)
        conn.execute(insert(AccessGroup), groups)
        conn.execute(insert(GroupMember), members)
        for start in range(0, len(rows), 5000):
            conn.execute(insert(Policy), rows[start:start + 5000])
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
    return Principal(iam_id=me, account_id=my_account, kind="ServiceId", name="bench")


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    for _ in range(min(50, iterations)):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(url: str, backend: str, n_policies: int, iterations: int) -> None:
    migrate(url)
    engine = make_engine(url)
    started = time.perf_counter()
    me = seed(engine, n_policies)
    seeded = time.perf_counter() - started
    nobody = Principal(iam_id="iam-ServiceId-nobody", account_id=me.account_id,
                       kind="ServiceId", name="nobody")
    catalog = roles.load_dir(roles.DEFAULT_DIR)  # the shipped role files; no runtime here
    with Session(engine) as session:
        count = session.execute(text("SELECT count(*) FROM policies")).scalar_one()
        cases = {
            "10 own + 10 group policies, namespace": lambda: held_actions(
                session, catalog, me, service="container-registry", region="us-south",
                resource_type="namespace", resource="ns-00000", repository="web-ui"),
            "same identity, no namespace (admin check)": lambda: held_actions(
                session, catalog, me, service="container-registry"),
            "identity with no policy": lambda: held_actions(
                session, catalog, nobody, service="container-registry", region="us-south",
                resource_type="namespace", resource="ns-00000"),
        }
        held = cases["10 own + 10 group policies, namespace"]()
        print(f"\n{backend}: {count} policies (seeded in {seeded:.1f} s); held on ns-00000: "
              f"{sorted(held)}")
        for name, fn in cases.items():
            samples = timed(fn, iterations)
            print(f"  {name:45s} p50 {pct(samples, 0.5):6.3f} ms   p99 "
                  f"{pct(samples, 0.99):6.3f} ms   mean {statistics.mean(samples):6.3f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--policies", type=int, default=100_000)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args.policies, args.iterations)
    if "postgresql" in backends:
        name = f"iam_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", "PostgreSQL", args.policies,
                args.iterations)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
