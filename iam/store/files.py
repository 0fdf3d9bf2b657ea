"""Secret files: created 0600 atomically, refused when group or others can read them.

Kept apart from `signing` so that the CLI can write key files without importing crypto.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from iam.errors import ConfigurationError


def check_private_file(path: Path) -> None:
    """Refuse a secret file that others can read: it must be mode 0600 (or stricter)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            f"{path} is readable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run: chmod 600 {path}"
        )


def write_private_file(path: Path, data: bytes) -> None:
    """Create a file readable by its owner only, atomically, never widening permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def user_config_file(name: str, *, override: str) -> Path:
    """A file of the user's own under `$XDG_CONFIG_HOME/registry-iam/` (`~/.config` by
    default), unless the environment variable `override` names another path."""
    explicit = os.environ.get(override)
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    return base / "registry-iam" / name
