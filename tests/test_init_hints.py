"""What `iam init` prints next: steps that work as printed (the venv's `iam` itself is
checked where it is run as `make serve` runs it: tests/test_readme_quickstart.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from iam.cli import app

runner = CliRunner()


@pytest.fixture
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("IAM_CONFIG_FILE", "IAM_DATABASE_URL", "IAM_REGISTRIES", "IAM_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IAM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_init_printing_the_key_says_to_log_in_from_a_second_terminal(fresh: Path) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("riam_") == 1  # the key, once
    assert "stays in the foreground" in result.stdout
    assert ("In a second terminal, log the CLI in:  iam login --apikey - --endpoint "
            "http://127.0.0.1:8080") in result.stdout


def test_init_writing_the_key_to_a_file_logs_in_from_that_file(fresh: Path) -> None:
    key = fresh / "owner.key"
    result = runner.invoke(app, ["init", "--apikey-file", str(key)])
    assert result.exit_code == 0, result.output
    assert "riam_" not in result.stdout
    assert f"iam login --apikey @{key} --endpoint http://127.0.0.1:8080" in result.stdout
    assert key.read_text().startswith("riam_") and key.stat().st_mode & 0o777 == 0o600


def test_init_names_the_web_console(fresh: Path) -> None:
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "open the web console: http://127.0.0.1:8080/console" in result.stdout
