"""The bench harness works end to end with tiny N (no timing is asserted, only that it runs
and that the server under load grants correctly and answers without errors)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.checks import check_grants
from bench.load import run_wrk
from bench.seed import seed
from bench.servers import start_ceiling, start_iam

pytestmark = [pytest.mark.server, pytest.mark.serial,  # wrk loads the machine
              pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")]


def test_seeded_service_and_ceiling_serve_a_short_wrk_round(tmp_path: Path) -> None:
    seeded = seed(tmp_path, backend="sqlite", n=5)
    assert len(seeded.keys_file.read_text().splitlines()) == 5
    servers = []
    try:
        iam = start_iam(seeded, workers=1, log=tmp_path / "iam.log")
        servers.append(iam)
        check_grants(iam.url, seeded.keys_file)
        ceiling = start_ceiling(seeded.data_dir / "keys", log=tmp_path / "ceiling.log")
        servers.append(ceiling)
        for server in servers:
            result = run_wrk(server.url, keys_file=seeded.keys_file, mode="token",
                             connections=2, duration=1)
            assert result.requests > 0 and result.errors == 0
        assert iam.peak_rss_mb() > 0
    finally:
        for server in servers:
            server.stop()
