"""README.md read as data: its sections, tables and the shell blocks marked to be run.

The README is what a newcomer follows, so the tests take commands and settings from it
rather than from a copy that could drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

# <!-- readme-test:begin NAME --> ... <!-- readme-test:end NAME -->: every ```sh block in
# between is run, in order, each in its own shell. A block right after
# <!-- readme-test:foreground TERMINAL ready=URL --> stays running in TERMINAL (a later
# foreground block of the same terminal stops it first, as Ctrl-C would); the next block
# starts once URL answers.
_REGION = re.compile(r"<!-- readme-test:begin (?P<name>[\w-]+) -->\n(?P<body>.*?)"
                     r"<!-- readme-test:end (?P=name) -->", re.S)
_BLOCK = re.compile(r"(?:<!-- readme-test:foreground (?P<terminal>[\w-]+) "
                    r"ready=(?P<ready>\S+) -->\n)?```sh\n(?P<code>.*?)```", re.S)
_SEPARATOR = re.compile(r"\|[-:| ]+\|")


def text() -> str:
    return README.read_text()


def section(title: str) -> str:
    """The body of the `## title` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text(), re.S | re.M)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def table_rows(body: str) -> list[list[str]]:
    """The cells of every table row in `body`, headers and separator rows left out."""
    lines = body.splitlines()
    rows = []
    for line, after in zip(lines, [*lines[1:], ""], strict=True):
        if not line.startswith("|") or _SEPARATOR.fullmatch(line) or _SEPARATOR.fullmatch(after):
            continue
        cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))  # `\|` is a pipe in a cell
        rows.append([cell.strip() for cell in cells])
    return rows


@dataclass(frozen=True)
class Block:
    region: str
    code: str
    terminal: str | None = None  # a foreground command that keeps running there
    ready: str | None = None     # the URL that answers once it is up


def marked_blocks(name: str) -> list[Block]:
    found = [m for m in _REGION.finditer(text()) if m.group("name") == name]
    assert len(found) == 1, f"README.md marks the region {name!r} {len(found)} times"
    return [Block(name, m.group("code"), m.group("terminal"), m.group("ready"))
            for m in _BLOCK.finditer(found[0].group("body"))]
