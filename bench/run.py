"""`make bench`: the token path under load, against its ceiling, on SQLite and PostgreSQL.

    python -m bench.run                  # the full run (N = 10 and 100,000), ~15 minutes
    python -m bench.run --quick          # a smoke run: tiny N, 2 s per case, no e2e
    python -m bench.run --n 10,1000 --duration 5 --dbs sqlite --no-e2e

Figures go to bench/results/<timestamp>.json and, unless --no-write, into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bench.checks import check_grants
from bench.load import run_wrk, warm_every_key
from bench.seed import Seeded, drop_pg_database, pg_database_name, seed
from bench.servers import Server, start_ceiling, start_iam

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Options:
    ns: list[int]
    dbs: list[str]
    workers: list[int]
    connections: list[int]
    duration: float
    warmup: float
    e2e_rounds: int
    write: bool
    cache_off: bool
    command: str
    cases: list[dict[str, Any]] = field(default_factory=list)


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (CI)")
    parser.add_argument("--n", default="10,100000", help="identities to seed, comma-separated")
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--connections", default="16,64")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case")
    parser.add_argument("--e2e-rounds", type=int, default=5)
    parser.add_argument("--no-e2e", action="store_true")
    parser.add_argument("--no-cache-off", action="store_true",
                        help="skip the token cases with the cache turned off")
    parser.add_argument("--no-write", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else argv
    command = "make bench" if not given else "python -m bench.run " + " ".join(given)
    if args.quick:
        return Options(ns=[10], dbs=["sqlite"], workers=[1], connections=[16], duration=2,
                       warmup=1, e2e_rounds=0, write=False, cache_off=False,
                       command=command)
    return Options(ns=[int(x) for x in args.n.split(",")], dbs=args.dbs.split(","),
                   workers=[int(x) for x in args.workers.split(",")],
                   connections=[int(x) for x in args.connections.split(",")],
                   duration=args.duration, warmup=2.0,
                   e2e_rounds=0 if args.no_e2e else args.e2e_rounds,
                   write=not args.no_write, cache_off=not args.no_cache_off,
                   command=command)


def measure(opts: Options, target: Server, keys: Path, mode: str, **labels: Any) -> None:
    """Warm up (every key once, then wrk), then one wrk run per connection count; record
    each as a case."""
    warm_every_key(target.url, keys_file=keys, mode=mode)
    run_wrk(target.url, keys_file=keys, mode=mode, connections=opts.connections[0],
            duration=opts.warmup)
    for conns in opts.connections:
        cpu = target.cpu_seconds()
        result = run_wrk(target.url, keys_file=keys, mode=mode, connections=conns,
                         duration=opts.duration)
        cpu_us = 1e6 * (target.cpu_seconds() - cpu) / max(result.requests, 1)
        case = {**labels, "mode": mode, "connections": conns, **result.as_dict(),
                "cpu_us": round(cpu_us)}
        opts.cases.append(case)
        print(f"  {mode:8s} c={conns:<3d} {result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms"
              f"  p99 {result.p99_ms:6.1f} ms  errors {result.errors}  CPU {cpu_us:5.0f} us/req",
              flush=True)


def run_ceiling(opts: Options, keys_dir: Path, keys: Path, when: str, log_dir: Path) -> None:
    print(f"ceiling ({when})", flush=True)
    server = start_ceiling(keys_dir, log=log_dir / f"ceiling-{when}.log")
    try:
        for mode in ("token", "identity"):
            measure(opts, server, keys, mode, server="ceiling", when=when, peak_rss_mb=0.0)
        for case in opts.cases[-2 * len(opts.connections):]:
            case["peak_rss_mb"] = round(server.peak_rss_mb(), 1)
    finally:
        server.stop()


def run_service(opts: Options, seeded: Seeded, workers: int, log_dir: Path) -> None:
    print(f"iam serve: {seeded.backend} N={seeded.n} workers={workers}", flush=True)
    server = start_iam(seeded, workers=workers,
                       log=log_dir / f"iam-{seeded.backend}-{seeded.n}-w{workers}.log")
    first = len(opts.cases)
    try:
        check_grants(server.url, seeded.keys_file)
        labels = {"server": "iam", "db": seeded.backend, "n": seeded.n, "workers": workers,
                  "when": f"{seeded.backend}-n{seeded.n}", "cache": "on"}
        measure(opts, server, seeded.keys_file, "token", **labels)
        smallest = min(opts.ns)
        if seeded.n > smallest:
            # The same working set as the smallest N: what N itself costs, apart from how
            # many distinct keys are in use (the audit's actor index and the activity
            # flush grow with those, whatever N is).
            few = seeded.data_dir / f"keys-{smallest}.txt"
            few.write_text("".join(seeded.keys_file.read_text().splitlines(True)[:smallest]))
            measure(opts, server, few, "token", **labels, rotation="small")
        if workers == 1:
            measure(opts, server, seeded.keys_file, "identity", **labels)
            measure(opts, server, seeded.keys_file, "healthz", **labels)
        check_grants(server.url, seeded.keys_file)
        rss = round(server.peak_rss_mb(), 1)
    finally:
        server.stop()
    for case in opts.cases[first:]:
        case["peak_rss_mb"] = rss
    if workers == 1 and opts.cache_off:
        run_cache_off(opts, seeded, log_dir)


def run_cache_off(opts: Options, seeded: Seeded, log_dir: Path) -> None:
    """The token path with its cache off (IAM_AUTHZ_CACHE_ENTRIES=0): what every request
    would cost without it, and what a key's first request costs."""
    print(f"iam serve: {seeded.backend} N={seeded.n} workers=1, cache off", flush=True)
    server = start_iam(seeded, workers=1, extra_env={"IAM_AUTHZ_CACHE_ENTRIES": "0"},
                       log=log_dir / f"iam-{seeded.backend}-{seeded.n}-nocache.log")
    first = len(opts.cases)
    try:
        check_grants(server.url, seeded.keys_file)
        measure(opts, server, seeded.keys_file, "token", server="iam", db=seeded.backend,
                n=seeded.n, workers=1, when=f"{seeded.backend}-n{seeded.n}", cache="off")
        rss = round(server.peak_rss_mb(), 1)
    finally:
        server.stop()
    for case in opts.cases[first:]:
        case["peak_rss_mb"] = rss


def machine() -> dict[str, str]:
    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    from importlib.metadata import version as pkg

    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    return {
        "cpu": f"{cpu} ({cores} cores)",
        "memory": f"{int(Path('/proc/meminfo').read_text().split()[1]) // 1024} MB",
        "os": platform.platform(), "python": platform.python_version(),
        "packages": ", ".join(f"{p} {pkg(p)}" for p in (
            "fastapi", "starlette", "uvicorn", "sqlalchemy", "pyjwt", "cryptography",
            "psycopg")),
        "wrk": version(["wrk", "-v"]), "postgresql": version(["psql", "--version"]),
        "registry": version(["docker-registry", "--version"]),
        "skopeo": version(["skopeo", "--version"]),
        "load_before": Path("/proc/loadavg").read_text().strip(),
        "commit": version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
    }


def main(argv: list[str] | None = None) -> None:
    opts = parse(argv)
    started = time.monotonic()
    stamp = time.strftime("%Y%m%dT%H%M%S")
    work = RESULTS / stamp
    log_dir = work / "logs"
    info = machine()
    seeded_all: list[Seeded] = []
    try:
        for db in opts.dbs:
            for n in opts.ns:
                print(f"seeding {db} N={n}", flush=True)
                t0 = time.monotonic()
                seeded = seed(work, backend=db, n=n)
                seeded_all.append(seeded)
                print(f"  seeded in {time.monotonic() - t0:.1f} s", flush=True)
                # the ceiling right before each block: the machine is shared, and a ratio
                # to a ceiling measured minutes apart would mostly measure the neighbours
                run_ceiling(opts, seeded.data_dir / "keys", seeded.keys_file,
                            f"{db}-n{n}", log_dir)
                for workers in opts.workers:
                    run_service(opts, seeded, workers, log_dir)
                if db == "postgresql":
                    drop_pg_database(pg_database_name(n))
        e2e: dict[str, Any] | None = None
        if opts.e2e_rounds:
            from bench.e2e import run_e2e

            e2e = run_e2e(work / "e2e", rounds=opts.e2e_rounds, log_dir=log_dir)
    finally:
        for s in seeded_all:
            if s.backend == "postgresql":
                drop_pg_database(pg_database_name(s.n))
    info["load_after"] = Path("/proc/loadavg").read_text().strip()
    results = {"command": opts.command, "machine": info, "cases": opts.cases, "e2e": e2e,
               "duration_s": round(time.monotonic() - started), "per_case_s": opts.duration,
               "stamp": stamp}
    (RESULTS / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    print(report.summary(results))
    if opts.write:
        report.write_benchmarks(ROOT / "BENCHMARKS.md", results)
        print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
