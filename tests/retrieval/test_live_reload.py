"""Staff add or break a guide while the bot runs (offline: HashingEncoder, copies in tmp_path).

(a) A question on a procedure with no guide is not answered; once a guide for it is written and
    the index rebuilt and published, the SAME running service answers it from that guide, with
    no restart and no retraining.
(b) A broken guide is caught by ``python -m tools.check`` (non-zero exit, file:line message),
    and checking touches nothing the bot serves: same build, same searcher, same answers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import load_settings
from tools.check import check_knowledge
from retrieval.encoders import HashingEncoder
from retrieval.index import build_index, current_build
from retrieval.decision import Thresholds
from retrieval.service import SearchService

ROOT = Path(__file__).resolve().parents[2]
KARAOKE_QUESTION = "thủ tục cấp giấy phép karaoke"
# The calibrated thresholds (retrieval/thresholds.json) are for EmbeddingGemma; the HashingEncoder's
# trigram "dense" scores run higher, so the tests pin thresholds that suit it.
HASHING_THRESHOLDS = Thresholds(
    dense_weight=0.5, top_k=2, answer=0.6, margin=0.03, clarify_floor=0.6, context_bonus=0.08
)
# Questions with a guide, asked before and after each change.
CONTROL_QUESTIONS = {
    "quên passcode vneid": "vneid_passcode",
    "quen mat khau vneid": "vneid_forgot_password",
}
KARAOKE_GUIDE = """---
id: giay_phep_karaoke
title: Xin giấy phép kinh doanh dịch vụ karaoke
summary: >-
  Muốn mở quán karaoke, bạn nộp hồ sơ xin giấy phép kinh doanh dịch vụ karaoke trên Cổng Dịch vụ
  công hoặc tại bộ phận một cửa; cơ quan tiếp nhận hướng dẫn giấy tờ cụ thể.
agency: Ủy ban nhân dân xã, phường nơi đặt quán
questions:
  - Thủ tục xin giấy phép kinh doanh karaoke gồm những gì?
  - xin giay phep karaoke o dau
  - mở quán karaoke cần xin giấy phép gì
  - cấp giấy phép karaoke nộp hồ sơ online được ko
  - giấy phép kinh doanh dịch vụ karaoke do cơ quan nào cấp
  - làm giấy phép karaoke mất bao lâu
  - hồ sơ đề nghị cấp giấy phép đủ điều kiện kinh doanh karaoke
  - quán hát karaoke có phải xin phép phường không
tags: [karaoke, giấy phép kinh doanh]
sources:
  - https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh.html
updated: 2026-11-28
reviewed: REVIEWED
legal: []
---

## Nộp hồ sơ xin giấy phép kinh doanh dịch vụ karaoke
1. Chuẩn bị đơn đề nghị cấp giấy phép kinh doanh dịch vụ karaoke.
2. Nộp hồ sơ trên Cổng Dịch vụ công hoặc tại bộ phận một cửa của {province}.
3. Cần hỏi thêm thì gọi {hotline} ({hotline_hours}).
"""


def karaoke_guide() -> str:
    """The new guide, reviewed today (a fixed date would be flagged as not reviewed some months later)."""
    return KARAOKE_GUIDE.replace("REVIEWED", dt.date.today().isoformat())


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A copy of knowledge/, its index built and published, and a service serving it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # keep the embedding cache private
    monkeypatch.setattr(Thresholds, "load", classmethod(lambda cls, path=None: HASHING_THRESHOLDS))
    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    index_dir = tmp_path / "index"
    settings = dataclasses.replace(
        load_settings(),
        knowledge_dir=knowledge,
        index_dir=index_dir,
        embedding_model="hashing",
        answer_threshold=None,
        margin_threshold=None,
    )
    encoder = HashingEncoder()
    build, problems = build_index(knowledge, index_dir, encoder, log=lambda *_: None)
    assert build is not None and not [p for p in problems if p.severity == "error"]
    return SearchService(settings, encoder=encoder), knowledge, index_dir, encoder


def answers(service: SearchService, questions) -> dict[str, tuple[str, list[str], str, float]]:
    searcher = service.searcher()
    out = {}
    for question in questions:
        decision = searcher.decide(question)
        out[question] = (decision.action, decision.guide_ids, decision.top.guide_id, round(decision.top.score, 6))
    return out


def test_a_new_guide_is_answered_by_the_running_service_without_restart(served):
    service, knowledge, index_dir, encoder = served
    before = service.searcher()
    decision = before.decide(KARAOKE_QUESTION)
    assert decision.action == "abstain", decision.as_metadata()
    assert "giay_phep_karaoke" not in before.index.guides
    control = answers(service, CONTROL_QUESTIONS)
    assert {q: a[1] for q, a in control.items()} == {q: [g] for q, g in CONTROL_QUESTIONS.items()}

    # Staff write the guide, check it, and publish (what `make check-knowledge` and `make index` do).
    (knowledge / "giay_phep_karaoke.md").write_text(karaoke_guide(), encoding="utf-8")
    report = check_knowledge(knowledge)
    assert not [p for p in report.problems if p.path.endswith("giay_phep_karaoke.md")], report.problems
    build, _ = build_index(knowledge, index_dir, encoder, log=lambda *_: None)
    assert current_build(index_dir) == build != before.index.path

    after = service.searcher()  # the same service instance, on its next request
    assert after is not before and after.index.path == build
    decision = after.decide(KARAOKE_QUESTION)
    assert decision.action == "answer", decision.as_metadata()
    assert decision.guide_ids == ["giay_phep_karaoke"]
    assert after.index.guides["giay_phep_karaoke"].title == "Xin giấy phép kinh doanh dịch vụ karaoke"
    # Questions of other guides are answered as before.
    assert {q: a[1] for q, a in answers(service, CONTROL_QUESTIONS).items()} == {q: a[1] for q, a in control.items()}
    # A request that started on the old searcher finishes on it.
    assert before.decide(KARAOKE_QUESTION).action == "abstain"


def test_a_broken_guide_fails_the_check_and_leaves_the_served_index_untouched(served, tmp_path):
    service, knowledge, index_dir, _ = served
    searcher = service.searcher()
    questions = [*CONTROL_QUESTIONS, KARAOKE_QUESTION]
    before = answers(service, questions)
    pointer = (index_dir / "CURRENT").read_text(encoding="utf-8")
    builds = sorted(p.name for p in (index_dir / "builds").iterdir())

    # Break the guide that answers "quên passcode vneid": an unquoted ": " in its title.
    guide = knowledge / "vneid_passcode.md"
    lines = guide.read_text(encoding="utf-8").split("\n")
    number = next(n for n, line in enumerate(lines, 1) if line.startswith("title:"))
    lines[number - 1] = "title: Quên: mã bảo vệ VNeID"
    guide.write_text("\n".join(lines), encoding="utf-8")

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tools.check", "--knowledge", "knowledge"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"knowledge/vneid_passcode.md:{number}: LỖI: YAML sai cú pháp" in result.stdout
    assert "1 lỗi" in result.stdout.splitlines()[-1]

    # Nothing served changed: same pointer, same builds, same searcher, same answers.
    assert (index_dir / "CURRENT").read_text(encoding="utf-8") == pointer
    assert sorted(p.name for p in (index_dir / "builds").iterdir()) == builds
    assert service.searcher() is searcher
    assert answers(service, questions) == before
    assert before["quên passcode vneid"][1] == ["vneid_passcode"]
