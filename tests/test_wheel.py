"""The built wheel works anywhere: installed into a fresh venv outside the checkout, from a
temporary working directory, `iam init` and `iam serve` run on SQLite and on PostgreSQL.

One wheel and one venv serve both backends (module-scoped); the build copies the checkout
first so that its `build/` folder can neither be left behind nor leak stale files in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, text

from iam.config import DEFAULT_REGISTRY_SERVICE
from tests.conftest import PG_ADMIN_URL
from tests.server import Server, make_server

ROOT = Path(__file__).resolve().parent.parent
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
# What `.gitignore` keeps out of the repository stays out of the build too.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "data", "*.egg-info",
                                    "__pycache__", ".*_cache", ".hypothesis", "results")


def _run(*argv: str | Path, cwd: Path) -> None:
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, f"{argv} failed:\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the checkout."""
    work = tmp_path_factory.mktemp("wheel-build")
    shutil.copytree(ROOT, work / "src", ignore=NOT_SOURCE)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist",
         work / "src", cwd=work)
    (built,) = (work / "dist").glob("registry_iam-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv outside the checkout with the wheel (and its dependencies) installed."""
    venv = tmp_path_factory.mktemp("wheel-venv") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    # This venv's pip installs into the new one (`--python`), which saves bootstrapping pip;
    # `--no-compile`: Python compiles what `iam` imports, not every module of every dependency.
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
         "--no-compile", wheel, cwd=venv.parent)
    return venv / "bin"


def _server(root: Path, bin_dir: Path, **env: str) -> Server:
    srv = make_server(root, **env)
    srv.env.pop("PYTHONPATH", None)
    srv.env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin:/bin"
    srv.bin_dir = bin_dir
    srv.cwd = root
    return srv


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the default SQLite file in the data directory, or a throw-away database."""
    if request.param == "sqlite":
        yield None
        return
    name = f"iam_wheel_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_packages_declared_cover_every_package_under_iam() -> None:
    """`[tool.setuptools] packages` lists each folder of `iam/` (a missing one is not shipped)."""
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                   ["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "iam").rglob("__init__.py")}
    assert found - declared == set()


@pytest.mark.server
def test_wheel_ships_every_migration_and_role_file(wheel: Path) -> None:
    """Whatever their names: a new `alembic/versions/*.py` or `policies/*.json` is packaged."""
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = (ROOT / "alembic" / "versions").glob("*.py")
    expected = {f"iam/_migrations/versions/{p.name}" for p in versions}
    expected |= {f"iam/_roles/{p.name}" for p in (ROOT / "policies").glob("*.json")}
    expected |= {"iam/_migrations/env.py", "iam/_migrations/script.py.mako"}
    assert expected - names == set()
    assert not any(name.startswith(("alembic/", "policies/")) for name in names)


@pytest.mark.server
def test_installed_wheel_inits_serves_and_issues_a_registry_token(
        venv_bin: Path, database_url: str | None, tmp_path: Path) -> None:
    """From a temporary cwd: `iam init`, `iam serve`, log in with the key, get a token."""
    env = {"IAM_DATABASE_URL": database_url} if database_url else {}
    server = _server(tmp_path / "run", venv_bin, **env)
    server.root.mkdir(parents=True, exist_ok=True)
    where = subprocess.run([str(venv_bin / "python"), "-c", "import iam; print(iam.__file__)"],
                           cwd=server.cwd, env=server.env, capture_output=True, text=True,
                           check=True).stdout.strip()
    assert Path(where).is_relative_to(venv_bin.parent), f"iam imported from {where}"

    server.cli("init", "--apikey-file", str(tmp_path / "owner.key"))
    apikey = (tmp_path / "owner.key").read_text().strip()
    server.start()
    try:
        login = httpx.post(f"{server.url}/identity/token",
                           data={"grant_type": APIKEY_GRANT, "apikey": apikey}, timeout=10)
        assert login.status_code == 200, login.text
        assert login.json()["token_type"] == "Bearer"

        scope = "repository:ns01/app:pull"
        answer = httpx.get(f"{server.url}/token", auth=("iamapikey", apikey), timeout=10,
                           params={"service": DEFAULT_REGISTRY_SERVICE, "scope": scope})
        assert answer.status_code == 200, answer.text
        claims = jwt.decode(answer.json()["token"], options={"verify_signature": False})
        assert claims["aud"] == DEFAULT_REGISTRY_SERVICE
        assert [entry["name"] for entry in claims["access"]] == ["ns01/app"]
    finally:
        server.stop()
