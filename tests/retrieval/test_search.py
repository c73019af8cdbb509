"""retrieval/search.py, retrieval/decision.py and retrieval/restore.py on the tiny index (HashingEncoder, no model)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from retrieval.restore import DiacriticRestorer
from retrieval.decision import THRESHOLDS_FILE, Ranked, Thresholds, choose
from retrieval.search import Searcher
from tests.retrieval.tiny_kb import TEST_THRESHOLDS

T = Thresholds(answer=0.55, margin=0.04, clarify_floor=0.5)


def ranked(*items) -> list[Ranked]:
    """ranked(("a", 0.8), ("b", 0.3, "handoff"), ...) -> Ranked list, best first as given."""
    out = []
    for item in items:
        guide_id, score, kind = (*item, "guide")[:3]
        out.append(Ranked(guide_id, score, score, score, kind))
    return out


# ------------------------------------------------------------------ choose()


def test_choose_nothing_ranked_abstains():
    assert choose([], T) == ("abstain", [])


def test_choose_below_threshold_abstains():
    assert choose(ranked(("a", 0.54), ("b", 0.1)), T) == ("abstain", [])


def test_choose_strong_and_clearly_ahead_answers():
    assert choose(ranked(("a", 0.80), ("b", 0.60), ("c", 0.2)), T) == ("answer", ["a"])


def test_choose_single_candidate_answers():
    assert choose(ranked(("a", 0.60)), T) == ("answer", ["a"])


def test_choose_close_second_clarifies_with_both():
    assert choose(ranked(("a", 0.70), ("b", 0.68), ("c", 0.30)), T) == ("clarify", ["a", "b"])


def test_choose_clarify_offers_at_most_three_close_guides():
    result = choose(ranked(("a", 0.70), ("b", 0.69), ("c", 0.68), ("d", 0.675)), T)
    assert result == ("clarify", ["a", "b", "c"])


def test_choose_close_second_below_clarify_floor_answers():
    strict = replace(T, clarify_floor=0.6)
    assert choose(ranked(("a", 0.58), ("b", 0.56)), strict) == ("answer", ["a"])
    assert choose(ranked(("a", 0.58), ("b", 0.56)), T) == ("clarify", ["a", "b"])


@pytest.mark.parametrize("kind", ["handoff", "uncovered"])
def test_choose_close_second_that_is_a_routing_entry_abstains(kind):
    assert choose(ranked(("a", 0.70), ("route", 0.68, kind), ("c", 0.30)), T) == ("abstain", [])


@pytest.mark.parametrize("kind", ["handoff", "uncovered"])
def test_choose_top_routing_entry_abstains(kind):
    assert choose(ranked(("route", 0.95, kind), ("a", 0.30)), T) == ("abstain", [])


def test_choose_routing_entry_far_behind_does_not_matter():
    assert choose(ranked(("a", 0.80), ("route", 0.50, "handoff")), T) == ("answer", ["a"])


# ------------------------------------------------------------------ thresholds


def test_thresholds_file_is_valid_and_loads():
    data = json.loads(THRESHOLDS_FILE.read_text(encoding="utf-8"))
    loaded = Thresholds.load()
    for name in Thresholds.__dataclass_fields__:
        if name in data:
            assert getattr(loaded, name) == pytest.approx(float(data[name]))
    assert 0 < loaded.answer < 1 and 0 <= loaded.margin < loaded.answer
    assert 0 <= loaded.dense_weight <= 1 and loaded.top_k >= 1


def test_thresholds_load_ignores_unknown_keys_and_missing_file(tmp_path):
    path = tmp_path / "t.json"
    path.write_text('{"_comment": "x", "answer": "0.7", "margin": 0.1}', encoding="utf-8")
    assert Thresholds.load(path) == Thresholds(answer=0.7, margin=0.1)
    assert Thresholds.load(tmp_path / "missing.json") == Thresholds()


# ------------------------------------------------------------------ search on the tiny index


@pytest.mark.parametrize(
    "question, guide",
    [
        ("Quên mật khẩu VNeID thì lấy lại thế nào?", "vneid_forgot_password"),
        ("Kích hoạt tài khoản định danh điện tử VNeID như thế nào?", "vneid_activate"),
        ("Nộp phạt vi phạm giao thông online thế nào?", "dvc_traffic_fines"),
    ],
)
def test_exact_sample_question_answers_from_its_guide(searcher, question, guide):
    decision = searcher.decide(question)
    assert decision.top.guide_id == guide
    assert decision.action == "answer"
    assert decision.guide_ids == [guide]
    assert decision.top.score >= TEST_THRESHOLDS.answer
    assert decision.top.dense > 0 and decision.top.lexical > 0  # both signals contribute


@pytest.mark.parametrize(
    "question, guide",
    [
        ("quen mat khau vneid lay lai the nao", "vneid_forgot_password"),  # no diacritics
        ("QUÊN MẬT KHẨU VNEID", "vneid_forgot_password"),  # upper case
        ("quên mk vneid r, lấy lại sao", "vneid_forgot_password"),  # teencode
        ("quen mk vneid r", "vneid_forgot_password"),  # teencode without diacritics
        ("kich hoat tk dinh danh dien tu ntn", "vneid_activate"),
        ("dt ko co nfc kich hoat vneid dc ko", "vneid_activate"),
        ("nop phat giao thong o dau", "dvc_traffic_fines"),
    ],
)
def test_unaccented_and_teencode_questions_rank_the_right_guide_first(searcher, question, guide):
    decision = searcher.decide(question)
    assert decision.top.guide_id == guide
    assert decision.action == "answer"


def test_lexical_signal_alone_is_accent_insensitive(tiny_index):
    lexical = Searcher(tiny_index, None, replace(TEST_THRESHOLDS, dense_weight=0.0))
    assert not lexical.dense_enabled
    accented = lexical.decide("Quên mật khẩu VNeID thì lấy lại thế nào")
    folded = lexical.decide("quen mat khau vneid thi lay lai the nao")
    assert accented.top.guide_id == folded.top.guide_id == "vneid_forgot_password"
    assert folded.top.lexical == pytest.approx(accented.top.lexical, abs=1e-5)
    assert folded.action == "answer"


def test_restored_query_is_reported(searcher):
    decision = searcher.decide("quen mat khau vneid")
    assert decision.restored == "quên mật khẩu vneid"


@pytest.mark.parametrize(
    "question",
    [
        "asdkjh qwe zzxq",
        "xyzzy plugh 12345 ???",
        "công thức nấu phở bò ngon",
        "thời tiết hôm nay thế nào",
        "vneid",  # too vague: the two VNeID guides are close and both weak
        "",
        "   ",
    ],
)
def test_gibberish_and_off_topic_abstain(searcher, question):
    decision = searcher.decide(question)
    assert decision.action == "abstain"
    assert decision.guide_ids == []
    assert decision.route is None or decision.top.kind != "guide"


@pytest.mark.parametrize(
    "question, route",
    [
        ("Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ", "handoff:handoff_complaint"),
        ("thủ tục đăng ký kết hôn cần giấy tờ gì", "uncovered:uncovered_marriage"),
    ],
)
def test_question_matching_a_routing_entry_abstains_with_the_route(searcher, question, route):
    decision = searcher.decide(question)
    assert decision.top.kind != "guide"
    assert decision.action == "abstain"
    meta = decision.as_metadata()
    assert meta["route"] == route
    assert meta["decision"] == "abstain" and meta["guide_ids"] == []


def test_decision_metadata(searcher):
    decision = searcher.decide("Quên mật khẩu VNeID thì lấy lại thế nào?")
    meta = decision.as_metadata()
    assert meta["decision"] == "answer"
    assert meta["guide_ids"] == ["vneid_forgot_password"]
    assert meta["route"] is None
    assert meta["ranking"][0]["id"] == "vneid_forgot_password"
    assert len(meta["ranking"]) == 3
    assert meta["score"] == pytest.approx(decision.top.score, abs=1e-4)
    assert meta["used_context"] is False
    json.dumps(meta)  # JSON-serialisable for the custom payload


def test_ranking_covers_every_guide_and_route_sorted(searcher, tiny_index):
    decision = searcher.decide("mật khẩu")
    assert {r.guide_id for r in decision.ranked} == set(tiny_index.guides)
    scores = [r.score for r in decision.ranked]
    assert scores == sorted(scores, reverse=True)


def test_best_section_is_the_one_about_the_question(searcher):
    decision = searcher.decide("Điện thoại không có NFC thì kích hoạt VNeID được không?")
    assert decision.guide_ids == ["vneid_activate"]
    section = searcher.best_section(decision, "vneid_activate")
    assert (
        searcher.index.guides["vneid_activate"].sections[section].heading
        == "Điện thoại không có NFC khi kích hoạt VNeID"
    )
    steps = searcher.decide("các bước kích hoạt tài khoản VNeID quét chip căn cước")
    assert searcher.best_section(steps, "vneid_activate") == 0
    assert searcher.best_section(steps, "handoff_complaint") == -1  # routing entries have no sections


# ------------------------------------------------------------------ follow-ups


FOLLOW_UP = "còn nếu không có NFC thì sao?"


def test_follow_up_question_is_recognised():
    assert Searcher.looks_like_follow_up(FOLLOW_UP)
    assert Searcher.looks_like_follow_up("con neu khong co nfc thi sao")
    assert Searcher.looks_like_follow_up("thế còn hộ chiếu?")
    assert not Searcher.looks_like_follow_up("Cách kích hoạt tài khoản định danh điện tử mức 2 trên điện thoại")
    assert not Searcher.looks_like_follow_up("")


def test_follow_up_boosts_the_previous_topic(searcher):
    plain = searcher.decide(FOLLOW_UP)
    assert plain.used_context is False
    scores = {r.guide_id: r.score for r in plain.ranked}
    # Without context the NFC guide leads; the previous topic (forgot password) is behind by
    # less than the context bonus, so the context decides.
    assert plain.top.guide_id == "vneid_activate"
    assert scores["vneid_activate"] - scores["vneid_forgot_password"] < TEST_THRESHOLDS.context_bonus

    followed = searcher.decide(FOLLOW_UP, context_topic="vneid_forgot_password")
    assert followed.used_context is True
    assert followed.top.guide_id == "vneid_forgot_password"
    assert followed.top.score == pytest.approx(
        scores["vneid_forgot_password"] + TEST_THRESHOLDS.context_bonus, abs=1e-5
    )
    others = {r.guide_id: r.score for r in followed.ranked if r.guide_id != "vneid_forgot_password"}
    assert others == pytest.approx({k: v for k, v in scores.items() if k != "vneid_forgot_password"})


def test_follow_up_on_the_same_topic_raises_its_score(searcher):
    plain = searcher.decide(FOLLOW_UP)
    followed = searcher.decide(FOLLOW_UP, context_topic="vneid_activate")
    assert followed.top.guide_id == "vneid_activate"
    assert followed.top.score == pytest.approx(plain.top.score + TEST_THRESHOLDS.context_bonus, abs=1e-5)
    assert followed.as_metadata()["used_context"] is True


def test_context_is_ignored_for_a_self_contained_question_or_unknown_topic(searcher):
    question = "Tra cứu quyết định xử phạt giao thông để nộp tiền phạt qua ngân hàng hoặc ví điện tử nhanh nhất"
    plain = searcher.decide(question)
    with_context = searcher.decide(question, context_topic="vneid_activate")
    assert with_context.used_context is False
    assert [r.score for r in with_context.ranked] == [r.score for r in plain.ranked]
    unknown = searcher.decide(FOLLOW_UP, context_topic="no_such_topic")
    assert unknown.used_context is False


@pytest.mark.parametrize(
    "question",
    [
        "thẻ căn cước bị mất thì làm lại ở đâu vậy ạ",
        "mã OTP không gửi về điện thoại khi đăng ký tài khoản",
        "con tôi dưới 14 tuổi đăng ký tài khoản VNeID thế nào",
    ],
)
def test_self_contained_questions_starting_with_a_folded_marker_are_not_follow_ups(question):
    assert not Searcher.looks_like_follow_up(question)


# ------------------------------------------------------------------ diacritic restoration


def test_restorer_restores_from_the_vocabulary():
    restorer = DiacriticRestorer(["Quên mật khẩu đăng nhập VNeID", "Đặt lại mật khẩu"])
    assert restorer.restore("quen mat khau") == "quên mật khẩu"
    assert restorer.restore("Quen Mat Khau VNeID") == "quên mật khẩu vneid"
    assert restorer.restore("quên mat khau") == "quên mật khẩu"  # accented words kept, rest restored
    assert restorer.restore("quen mk") == "quên mật khẩu"  # abbreviations are expanded first
    assert restorer.restore("mat khau cu") == "mật khẩu cu"  # unknown words stay as typed


def test_restorer_leaves_ambiguous_single_syllables():
    restorer = DiacriticRestorer(["mã OTP", "mà", "má"])
    assert restorer.restore("ma") == "ma"  # mã / mà / má: no form dominates
    assert restorer.restore("ma otp") == "mã otp"  # the longer match decides
    dominant = DiacriticRestorer(["mã OTP", "mã xác thực", "mã bảo vệ", "mà"])
    assert dominant.restore("ma") == "mã"  # 3 of 4 = 0.75 >= SINGLE_SYLLABLE_DOMINANCE


def test_restorer_with_the_tiny_index_vocabulary(searcher):
    assert searcher.decide("quen mat khau").restored == "quên mật khẩu"
    assert searcher.decide("kich hoat tai khoan dinh danh").restored == "kích hoạt tài khoản định danh"
