"""Drive a server with wrk (one thread: the machine's cores are shared with the server)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parent / "wrk_token.lua"


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_wrk(url: str, *, keys_file: Path, mode: str, connections: int,
            duration: float) -> LoadResult:
    """One closed-loop wrk run; non-2xx/3xx answers and socket errors count as errors."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "10s",
            "-s", str(SCRIPT), url, "--", str(keys_file), mode]
    out = subprocess.run(argv, check=True, capture_output=True, text=True,
                         timeout=duration + 60).stdout
    line = next(x for x in reversed(out.splitlines()) if x.startswith("{"))
    data = json.loads(line)
    seconds = data["duration_us"] / 1e6
    return LoadResult(rps=data["requests"] / seconds, p50_ms=data["p50_us"] / 1000,
                      p99_ms=data["p99_us"] / 1000, errors=data["errors"],
                      requests=data["requests"])
