"""One home per concern (issue #13), checked on the source text.

* Configuration: only ``core/`` (``core/settings.py``) and ``scripts/`` touch ``os.environ`` /
  ``os.getenv``; every other module reads its variables through the ``core.settings`` helpers.
* Wording: what a citizen reads is written in one module per process: ``actions/replies.py`` (and
  domain.yml) for the action server, ``handoff/messages.py`` for the agent console,
  ``bot/channels/messages.py`` for the Rasa server's channels. A Vietnamese string literal (one with
  Vietnamese letters) elsewhere in actions/, bot/channels/ or handoff/ fails, unless listed below.
"""

from __future__ import annotations

import ast
import re
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


# ---------------------------------------------------------------------------------------------------
# Wording
# ---------------------------------------------------------------------------------------------------

WORDING_MODULES = {"actions/replies.py", "handoff/messages.py", "bot/channels/messages.py"}
WORDING_SCOPE = ("actions", "bot/channels", "handoff")
# Vietnamese that is not wording a citizen reads, or wording not yet moved.
NOT_CITIZEN_WORDING = {
    # what the citizen may type (the call-back form's cancel words and consent), not what the bot says
    "actions/conversation.py": {"thôi", "hủy", "huỷ", "không", "không cần", "thôi khỏi", "khỏi", "bỏ qua", "đồng ý"},
    # the agent console's own screens, API errors and admin command (agents read them, not citizens)
    "handoff/server.py": "*",
    "handoff/account_routes.py": "*",
    "handoff/callback_routes.py": "*",
    "handoff/admin.py": "*",
    "handoff/openapi.py": "*",
    "handoff/passwords.py": "*",
    # working hours in words ("Thứ Hai – Thứ Sáu, 07:30–17:00"): shown to agents and, inside
    # actions/replies.py's offline message, to citizens
    "handoff/hours.py": "*",
}
VIETNAMESE = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _vietnamese_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of the string literals with Vietnamese letters, f-string pieces included, docstrings not;
    regular expressions (a literal passed to re.compile / re.search / ...) are patterns, not wording."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "re"
        ):
            skip.update(id(arg) for arg in node.args)
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and VIETNAMESE.search(node.value)
    )


def test_the_wording_scan_spots_vietnamese_but_not_docstrings_or_patterns():
    source = (
        '"""Mô-đun."""\nimport re\n\n\ndef f(n):\n    """Trả lời."""\n'
        '    re.compile(r"(không|khong)")\n    return f"Bạn ở vị trí {n}", "ok"\n'
    )
    assert _vietnamese_literals(source) == [(8, "Bạn ở vị trí ")]


def test_citizen_wording_lives_in_the_wording_modules():
    found = []
    for folder in WORDING_SCOPE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            allowed = NOT_CITIZEN_WORDING.get(name, set())
            if name in WORDING_MODULES or allowed == "*":
                continue
            found += [
                f"{name}:{line}: {text[:60]!r}"
                for line, text in _vietnamese_literals(path.read_text(encoding="utf-8"))
                if text not in allowed
            ]
    assert not found, "move citizen-facing wording to the process's wording module:\n" + "\n".join(found)


def test_the_wording_allow_list_is_not_stale():
    for name, allowed in NOT_CITIZEN_WORDING.items():
        texts = {text for _line, text in _vietnamese_literals((ROOT / name).read_text(encoding="utf-8"))}
        assert texts, f"{name} has no Vietnamese literal left: drop it from NOT_CITIZEN_WORDING"
        if allowed != "*":
            assert allowed <= texts, f"{name}: no longer has {sorted(allowed - texts)}"
