"""No Python module over 500 lines (issue #13): a longer one is split by concern, moved, not rewritten.

    python scripts/check_sizes.py [PATH ...]        (part of `make lint`; default: the whole repository)

Counts the lines of every .py file under the repository (the packages, scripts, tests, loadtest), skipping
the venvs (.venv*), models/, var/, hidden folders and caches. `make lint` checks the formatting first, so the
count is that of the file as `ruff format` leaves it. Exit status 1 listing every file over the limit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500
SKIP_TOP = {"models", "var"}  # at the top only; .venv* and every other hidden folder anywhere
SKIP_ANYWHERE = {"__pycache__", "node_modules"}


def python_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            if path.suffix == ".py":
                yield path
            continue
        for child in sorted(path.iterdir()):
            if child.is_dir():
                top = path == ROOT
                if child.name.startswith(".") or child.name in SKIP_ANYWHERE or (top and child.name in SKIP_TOP):
                    continue
                yield from python_files([child])
            elif child.suffix == ".py":
                yield child


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or [ROOT]
    files = list(python_files(paths))
    too_long = [(f, n) for f in files if (n := line_count(f)) > MAX_LINES]
    for path, lines in too_long:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"{shown}: {lines} lines (at most {MAX_LINES}: split it by concern, issue #13)", file=sys.stderr)
    verdict = f"{len(too_long)} over {MAX_LINES} lines" if too_long else f"all within {MAX_LINES} lines"
    print(f"module sizes: {len(files)} Python file(s), {verdict}")
    return 1 if too_long else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
