"""The real guides, searched lexically (no model): fast checks of behaviour citizens rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.index import build_index, load_index
from retrieval.decision import Thresholds
from retrieval.search import Searcher

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("index")
    build, problems = build_index(KNOWLEDGE, index_dir, encoder=None, log=lambda *_: None)
    assert build is not None and not [p for p in problems if p.severity == "error"]
    # Lexical-only scores run lower than fused ones; these thresholds are for this test only.
    return Searcher(
        load_index(index_dir), None, Thresholds(dense_weight=0.0, top_k=2, answer=0.3, margin=0.02, clarify_floor=0.3)
    )


@pytest.mark.parametrize(
    ("question", "wants_steps"),
    [
        ("quen mat khau vneid thi lam sao", True),
        ("vì sao tôi hay quên mật khẩu vneid", False),
    ],
)
def test_how_to_question_prefers_the_numbered_steps(searcher, question, wants_steps):
    guide_id = "vneid_forgot_password"
    decision = searcher.decide(question)
    assert decision.action == "answer" and decision.guide_ids == [guide_id]
    guide = searcher.index.guides[guide_id]
    units = [i for i, u in enumerate(searcher.index.units) if u.guide_id == guide_id and u.kind == "section"]
    steps = next(i for i in units if "1." in guide.sections[searcher.index.units[i].section].text)
    other = next(i for i in units if "1." not in guide.sections[searcher.index.units[i].section].text)
    # The other section matches a little better than the steps (as "why" does for "làm sao").
    decision.unit_scores = decision.unit_scores.copy()
    decision.unit_scores[units] = 0.0
    decision.unit_scores[steps], decision.unit_scores[other] = 0.60, 0.63
    chosen = searcher.best_section(decision, guide_id)
    expected = steps if wants_steps else other
    assert chosen == searcher.index.units[expected].section


def test_routing_entries_are_indexed_but_never_answered(searcher):
    decision = searcher.decide("tôi muốn khiếu nại cán bộ một cửa phường gây khó dễ")
    assert decision.top.kind == "handoff"
    assert decision.action == "abstain" and decision.route is not None
