"""Every hand-written text the bot learns from or says is in Unicode NFC.

Vietnamese typed on some keyboards (and copied from some PDFs) arrives decomposed (NFD): "ệ" as
"e" + two combining marks. It looks identical but matches nothing written in NFC, so NLU
training data, responses, guides and test conversations must all be NFC.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# Folders and files to check, relative to the project root (missing ones are skipped).
TARGETS = ("data", "domain.yml", "knowledge", "tests/conversations")
TEXT_SUFFIXES = {".yml", ".yaml", ".md", ".json", ".jsonl", ".txt", ".csv"}


def text_files(root: Path, targets=TARGETS) -> list[Path]:
    files: list[Path] = []
    for target in targets:
        path = root / target
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
    return files


def non_nfc_lines(path: Path, root: Path = PROJECT) -> list[str]:
    """``file:line: text`` for every line of ``path`` that is not NFC (or the decoding error)."""
    name = path.relative_to(root) if path.is_relative_to(root) else path
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [f"{name}: not UTF-8 ({exc})"]
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not unicodedata.is_normalized("NFC", line):
            problems.append(f"{name}:{number}: {line.strip()[:80]!r}")
    return problems


def test_project_text_is_nfc():
    files = text_files(PROJECT)
    assert any(p.parent.name == "knowledge" for p in files) and (PROJECT / "domain.yml") in files
    problems = [problem for path in files for problem in non_nfc_lines(path)]
    assert not problems, "text not in Unicode NFC (fix with unicodedata.normalize('NFC', ...)):\n" + "\n".join(problems)


@pytest.mark.parametrize("form", ["NFD", "NFKD"])
def test_checker_reports_file_and_line(tmp_path, form):
    folder = tmp_path / "data"
    folder.mkdir()
    good = "- intent: greet\n  examples: |\n    - xin chào\n"
    bad = "- ví dụ\n- " + unicodedata.normalize(form, "định danh điện tử") + "\n"
    (folder / "good.yml").write_text(good, encoding="utf-8")
    (folder / "bad.yml").write_text(bad, encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG not text")
    files = text_files(tmp_path, ("data", "missing.yml"))
    assert [p.name for p in files] == ["bad.yml", "good.yml"]
    problems = [problem for path in files for problem in non_nfc_lines(path, tmp_path)]
    assert len(problems) == 1
    assert problems[0].startswith("data/bad.yml:2: ")


def test_checker_reports_undecodable_files(tmp_path):
    path = tmp_path / "latin1.md"
    path.write_bytes("định danh".encode("utf-16"))
    assert non_nfc_lines(path, tmp_path)[0].startswith("latin1.md: not UTF-8")
