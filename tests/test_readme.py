"""README.md stays true to the code: every setting listed with its default, tables whole."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from iam.config import Settings
from tests.readme import section, table_rows, text

PACKAGE = Path(__file__).resolve().parent.parent / "iam"


def _documented() -> dict[str, str]:
    """Each `IAM_*` name of the Configuration tables, with its default cell."""
    found: dict[str, str] = {}
    for row in table_rows(section("Configuration")):
        for name in re.findall(r"`(IAM_[A-Z0-9_]+)`", row[0]):
            found[name] = row[1]
    return found


def _env_name(field: str) -> str:
    return f"IAM_{field.upper()}"


def _written(value: Any) -> list[str]:
    """The ways the README may write a default (inside backticks)."""
    if isinstance(value, bool):
        return [str(value).lower()]
    if isinstance(value, float):
        return [f"{value:g}", str(value)]
    if isinstance(value, Path):
        return [str(value), f"./{value}"]
    if isinstance(value, list):
        items = [v.model_dump(mode="json", exclude_defaults=True) if isinstance(v, BaseModel)
                 else v for v in value]
        return [json.dumps(items, separators=(",", ":"))]
    return [str(value)]


def test_readme_lists_every_setting() -> None:
    documented = _documented()
    missing = [_env_name(f) for f in Settings.model_fields if _env_name(f) not in documented]
    assert missing == [], f"add these settings to README.md's Configuration table: {missing}"


def test_readme_gives_every_setting_its_default() -> None:
    documented = _documented()
    wrong = []
    for field, info in Settings.model_fields.items():
        cell = documented.get(_env_name(field), "")
        default = info.get_default(call_default_factory=True)
        if default in (None, "") or (isinstance(default, Path) and default.is_absolute()):
            ok = cell != ""  # unset, or a computed place: the cell says what that means
        else:
            ok = any(f"`{form}`" in cell for form in _written(default))
        if not ok:
            wrong.append(f"{_env_name(field)}: README says {cell!r}, default {default!r}")
    assert wrong == []


def test_readme_documents_only_variables_the_code_reads() -> None:
    """A name in the table that is no setting must at least be read by the CLI."""
    source = "".join(p.read_text() for p in PACKAGE.rglob("*.py"))
    unknown = [name for name in _documented()
               if name.removeprefix("IAM_").lower() not in Settings.model_fields
               and f'"{name}"' not in source]
    assert unknown == []


def test_readme_tables_are_not_split_by_blank_lines() -> None:
    """A blank line inside a table ends it: the rest renders as raw text."""
    split = re.findall(r"^(\|.*)\n\n\|", text(), re.M)
    assert split == []
