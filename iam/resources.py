"""The data folders the package ships: the Alembic migrations and the role files.

They live in the repository's top-level `alembic/` and `policies/` folders, and a regular
install (wheel) puts them inside the package as `iam/_migrations` and `iam/_roles` (see
`[tool.setuptools]` in pyproject.toml). An editable install runs the checkout's `iam/`,
next to which the repository's own folders are found. The installed copy wins.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from iam.errors import ConfigurationError


def _package_root() -> Path:
    return Path(str(files("iam")))


def shipped_folder(installed: str, checkout: str) -> Path:
    """`iam/<installed>` in an installed package, else `<checkout>/` next to `iam/`."""
    package = _package_root()
    candidates = (package / installed, package.parent / checkout)
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise ConfigurationError(f"registry-iam is installed without its {checkout}/ folder "
                             f"(looked in {', '.join(map(str, candidates))}); reinstall it")


def migrations_dir() -> Path:
    """Alembic's script location: `env.py`, `script.py.mako` and `versions/`."""
    return shipped_folder("_migrations", "alembic")


def roles_dir() -> Path:
    """The role files shipped with the package, one JSON file per service."""
    return shipped_folder("_roles", "policies")
