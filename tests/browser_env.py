"""The real browser for the console's tests: Debian's Chromium driven by Playwright (the PyPI
package, launched by path: no browser download), axe-core from npm installed once into a
git-ignored folder (`tests/.node`), and screenshots written to `tests/output/screenshots`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / ".node"
AXE = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
AXE_PACKAGE = "axe-core@4"
SCREENSHOTS = HERE / "output" / "screenshots"
NPM = shutil.which("npm") or "/usr/bin/npm"


def have_browser() -> bool:
    return CHROMIUM.exists() and Path(NPM).exists()


def axe_source() -> str:
    """axe-core's script, installed with npm on first use (idempotent, never global)."""
    if not AXE.exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([NPM, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund",
                        "--no-save", "--loglevel=error", AXE_PACKAGE], check=True,
                       capture_output=True, timeout=300)
    return AXE.read_text()


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM),
                                      args=["--no-sandbox", "--disable-dev-shm-usage"])


def screenshot(page: Any, name: str, *, mask: tuple[str, ...] = ()) -> Path:
    """The whole page; `mask`: selectors painted over (a secret a page shows once)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True,
                    mask=[page.locator(selector) for selector in mask])
    return path


def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page (its context must bypass the CSP: axe is injected
    as an inline script, which the console's own policy rightly refuses)."""
    page.add_script_tag(content=source)
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return found
