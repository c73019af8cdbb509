"""Smoke test of ``python -m evaluation.benchmark`` on a tiny index with the hashing encoder.

It checks that every section is produced and the report written; it asserts nothing about
timing (the benchmark only prints numbers) and needs no embedding model.
"""

from __future__ import annotations

import json
import shutil

from core.settings import PROJECT_ROOT
from evaluation.benchmark import BM25Baseline, bm25_tokens, main
from retrieval.documents import load_guides
from retrieval.encoders import HashingEncoder
from retrieval.index import build_index, load_index


def test_bm25_tokens_are_folded_syllables_and_bigrams():
    assert bm25_tokens("Đăng ký tạm trú") == ["dang", "ky", "tam", "tru", "dang_ky", "ky_tam", "tam_tru"]


def test_benchmark_writes_every_section(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for path in sorted((PROJECT_ROOT / "knowledge").glob("vneid_*.md"))[:3]:
        shutil.copy2(path, knowledge / path.name)
    guides, _ = load_guides(knowledge)
    build_index(knowledge, tmp_path / "index", HashingEncoder(), log=lambda _message: None)
    lines = [{"text": g.title, "expect": g.id, "kind": "title"} for g in guides]
    lines.append({"text": "giá vàng hôm nay bao nhiêu", "expect": None, "kind": "offtopic"})
    dev = tmp_path / "dev.jsonl"
    dev.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")

    bm25 = BM25Baseline(load_index(tmp_path / "index"))
    assert [bm25.rank(g.title)[0] for g in guides] == [g.id for g in guides]

    out = tmp_path / "benchmark.md"
    assert (
        main(
            [
                "--file",
                str(dev),
                "--out",
                str(out),
                "--index",
                str(tmp_path / "index"),
                "--knowledge",
                str(knowledge),
                "--model",
                "hashing",
                "--quick",
                "--passes",
                "1",
            ]
        )
        == 0
    )
    report = out.read_text(encoding="utf-8")
    for heading in (
        "## Ranking (answerable lines)",
        "## Hybrid decision",
        "## Latency per question (ms)",
        "## Index build",
        "## Memory (MB)",
    ):
        assert heading in report
    assert "BM25 baseline" in report and "hashing-256" in report
    incremental = next(line for line in report.splitlines() if line.startswith("| incremental"))
    cells = [cell.strip() for cell in incremental.strip("|").split("|")]
    assert cells[3:5] == ["0", "kept (up to date)"]  # embedded nothing, served build kept
    assert "## Index build" in capsys.readouterr().out


def test_rewriting_the_report_keeps_the_faiss_block(tmp_path):
    from evaluation.bench_report import KEPT_BLOCK, splice_block, write_report

    start, end = KEPT_BLOCK
    report = tmp_path / "benchmark.md"
    write_report(report, "# Search benchmark\nold numbers\n")
    report.write_text(
        splice_block(report.read_text(encoding="utf-8"), f"{start}\nFAISS table\n{end}"), encoding="utf-8"
    )
    write_report(report, "# Search benchmark\nnew numbers\n")
    text = report.read_text(encoding="utf-8")
    assert "new numbers" in text and "old numbers" not in text
    assert f"{start}\nFAISS table\n{end}" in text
    # Splicing again replaces the block instead of adding a second one.
    again = splice_block(text, f"{start}\nnewer table\n{end}")
    assert again.count(start) == 1 and "newer table" in again and "FAISS table" not in again
