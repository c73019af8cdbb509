"""One home per concern (issue #13), checked on the source text.

* Configuration: only ``core/`` (``core/settings.py``) and ``scripts/`` touch ``os.environ`` /
  ``os.getenv``; every other module reads its variables through the ``core.settings`` helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Folders whose modules may read the environment themselves. loadtest/ is the Locust client with its
# own venv (.venv-load), not part of the bot's processes.
ENV_READERS = {"core", "scripts", "tests", "loadtest"}
_OS_ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _sources(skip: set[str]) -> list[Path]:
    folders = [
        p
        for p in sorted(ROOT.iterdir())
        if p.is_dir() and not p.name.startswith(".") and p.name not in skip and any(p.rglob("*.py"))
    ]
    return [path for folder in folders for path in sorted(folder.rglob("*.py"))]


def _env_uses(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in _OS_ENV_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in _OS_ENV_NAMES for alias in node.names):
                lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_finds_the_packages_and_spots_a_read():
    names = {p.relative_to(ROOT).parts[0] for p in _sources(ENV_READERS)}
    assert {"bot", "actions", "retrieval", "handoff", "insights", "tools", "evaluation"} <= names
    assert _env_uses(ast.parse("import os\nx = os.environ.get('A')\ny = os.getenv('B')\n")) == [2, 3]
    assert _env_uses(ast.parse("from os import environ\n")) == [1]
    assert _env_uses(ast.parse("def f(environ): return environ.get('x')\n")) == []


def test_only_core_and_scripts_read_the_environment():
    found = []
    for path in _sources(ENV_READERS):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(ROOT)}:{line}" for line in _env_uses(tree)]
    assert not found, "read the environment through core.settings (env_str/env_int/...), not os.environ: " + ", ".join(
        found
    )
