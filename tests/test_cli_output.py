"""Every `iam` command that prints takes `--output json`: scripts never parse a table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from iam.cli import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The path of every leaf command under `command` (groups such as `keys` walked into)."""
    children = getattr(command, "commands", None)
    if children is None:
        yield path
        return
    for name, child in children.items():
        yield from _commands(child, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def test_the_cli_has_the_commands_the_readme_names() -> None:
    """The walk below sees every command (a guard against walking nothing)."""
    names = {" ".join(c) for c in COMMANDS}
    for expected in ("serve", "login", "service-policy-update", "access-group-policy-update",
                     "user-policy-update", "keys rotate", "registry-config", "access-check"):
        assert expected in names
    assert len(COMMANDS) >= 60


def _help_lines(path: tuple[str, ...]) -> list[str]:
    """The option lines `iam PATH --help` shows, as click writes them (without rendering the
    whole page: rich takes a quarter second per page)."""
    command: Any = ROOT
    for name in path:
        command = command.commands[name]
    ctx = command.context_class(command, info_name=path[-1])
    return [" ".join(record) for p in command.params if (record := p.get_help_record(ctx))]


def test_every_command_offers_output_json() -> None:
    missing = [" ".join(path) for path in COMMANDS
               if not any(line.startswith("-o, --output <table|json>")
                          for line in _help_lines(path))]
    assert missing == []


def test_the_help_page_shows_the_output_option() -> None:
    """What `_help_lines` reads is what the rendered page says."""
    result = CliRunner().invoke(app, ["logout", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--output" in result.output and "table|json" in result.output
