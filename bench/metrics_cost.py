"""What the metrics add to one token request, in process: the instrument calls a cache hit
makes (request counter, latency histogram, token issued, decision-cache hit), timed with
the instruments on, off (`IAM_METRICS_ENABLED=false`: no-ops), and in the multiprocess mode
of `--workers N` (values in memory-mapped files).

    python -m bench.metrics_cost            # in memory, and off
    python -m bench.metrics_cost --multiprocess
"""

from __future__ import annotations

import argparse
import os
import tempfile
import timeit


def per_token_us(enabled: bool, rounds: int) -> float:
    from iam.metrics.instruments import Metrics

    metrics = Metrics(enabled=enabled)
    route = metrics.route("/token", "GET", latency=True)
    hit, _miss = metrics.lookups("decisions")
    tokens = metrics.tokens

    def one_request() -> None:
        hit.inc()
        tokens.issued("container-registry.token", "registry.local")
        route.answered(200, 0.0007)

    one_request()
    best = min(timeit.repeat(one_request, number=rounds, repeat=5))
    return 1e6 * best / rounds


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost")
    parser.add_argument("--multiprocess", action="store_true")
    parser.add_argument("--rounds", type=int, default=100_000)
    args = parser.parse_args()
    if args.multiprocess:  # before prometheus_client is imported, as `iam serve` does
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="iam-metrics-")
    mode = "multiprocess (mmap files)" if args.multiprocess else "in memory"
    print(f"metrics on, {mode}: {per_token_us(True, args.rounds):.2f} us per token request")
    print(f"metrics off: {per_token_us(False, args.rounds):.2f} us per token request")


if __name__ == "__main__":
    main()
