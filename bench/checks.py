"""Before measuring: the server under test must grant correctly, or its speed means nothing.

A seeded key gets `pull,push` on its own namespace and nothing on another identity's, and
an unknown key gets 401. This is what a cache that leaked one identity's grant to another,
or skipped the key check, would break.
"""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import jwt


def _access(url: str, key: str, namespace: str) -> list[str] | None:
    answer = httpx.get(f"{url}/token", params={
        "service": "registry.local", "scope": f"repository:{namespace}/app:pull,push"},
        auth=("iamapikey", key), timeout=10)
    if answer.status_code == 401:
        return None
    answer.raise_for_status()
    claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
    return list(claims["access"][0]["actions"])


def check_grants(url: str, keys_file: Path, *, samples: int = 20) -> None:
    """Raise AssertionError when a grant is wrong."""
    pairs = [line.split() for line in keys_file.read_text().splitlines() if line.strip()]
    picked = random.sample(pairs, min(samples, len(pairs)))
    for key, namespace in picked:
        own = _access(url, key, namespace)
        assert own == ["pull", "push"], f"own namespace {namespace}: {own}"
        others = [ns for _, ns in pairs if ns != namespace]
        if others:
            other = _access(url, key, random.choice(others))
            assert other == [], f"another identity's namespace granted: {other}"
    unknown = _access(url, "riam_" + "0" * 49, picked[0][1])
    assert unknown is None, "an unknown key was not refused"
