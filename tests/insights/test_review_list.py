"""`make report` lists the guides not reviewed for review_months (knowledge/outdated.yml)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from insights import report as report_mod
from insights.html import render_html
from retrieval.outdated import guides_due_for_review

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def stale_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    passcode = folder / "vneid_passcode.md"
    text = passcode.read_text(encoding="utf-8")
    passcode.write_text(text.replace("\nreviewed: ", "\nreviewed: 2020-01-15\nold_reviewed: ", 1), encoding="utf-8")
    qr = folder / "vneid_qr_sharing.md"
    qr.write_text(qr.read_text(encoding="utf-8").replace("\nreviewed: ", "\nold_reviewed: ", 1), encoding="utf-8")
    return folder


def test_due_guides_are_the_old_and_the_undated(tmp_path):
    folder = stale_copy(tmp_path)
    due, months = guides_due_for_review(folder, today=dt.date(2026, 12, 20))
    assert months == 6
    assert [(d["guide_id"], d["months"]) for d in due] == [("vneid_qr_sharing", None), ("vneid_passcode", 83)]
    assert guides_due_for_review(KNOWLEDGE, today=dt.date(2026, 12, 20))[0] == []
    # Six months after the review every guide is due.
    assert len(guides_due_for_review(KNOWLEDGE, today=dt.date(2027, 6, 5))[0]) >= 43


def test_the_report_lists_them_for_staff(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_KNOWLEDGE_DIR", str(stale_copy(tmp_path)))
    report = report_mod.build_report([], until="2026-12-20")
    report.due_for_review, report.review_months = report_mod._due_for_review()
    html = render_html(report)
    assert "Bài hướng dẫn cần rà soát lại (2 bài)" in html and "vneid_passcode" in html and "(chưa ghi)" in html
    text = report_mod.summary_text(report)
    assert "2 bài hướng dẫn chưa được rà soát lại quá 6 tháng" in text and "vneid_qr_sharing" in text


def test_nothing_due_adds_nothing(monkeypatch):
    monkeypatch.setenv("DVC_KNOWLEDGE_DIR", str(KNOWLEDGE))
    report = report_mod.build_report([], until="2026-12-20")
    assert "cần rà soát lại" not in render_html(report)
    assert "rà soát" not in report_mod.summary_text(report)
