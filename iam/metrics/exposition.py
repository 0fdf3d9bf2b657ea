"""The text a scrape of `/metrics` gets, from this process or from every worker.

`iam serve --workers N` (N > 1) makes `<data dir>/metrics` the `PROMETHEUS_MULTIPROC_DIR`
before anything imports prometheus_client (its value class is chosen at import): each
worker then writes its values to files there, and whichever worker answers a scrape sums
them all. The directory is emptied at every start (the files of a previous run would be
counted again), and a worker's live gauges are dropped when it exits.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from iam.metrics.instruments import Metrics

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
DIRECTORY = "metrics"
#: The classic text format, which every Prometheus reads (the names here need no escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def prepare_multiprocess(data_dir: Path) -> Path:
    """An empty `<data_dir>/metrics` (mode 0700), named in the environment every worker
    inherits. Call before prometheus_client is imported in this process."""
    directory = data_dir / DIRECTORY
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700, parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory.resolve())
    return directory


def single_process() -> None:
    """One worker: values in memory (a directory named by the environment is not ours)."""
    os.environ.pop(MULTIPROCESS_ENV, None)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def render(metrics: Metrics) -> bytes:
    """The Prometheus text format: every worker's values summed, or this process's."""
    if multiprocess():
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(metrics.registry)


def worker_exited(pid: int) -> None:
    """Forget the live gauges of a worker that is gone."""
    if multiprocess():
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid)  # type: ignore[no-untyped-call]
