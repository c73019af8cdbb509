"""The spaCy key-term extraction, the uncovered-procedure catalogue and the answerability check."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from retrieval.documents import Guide
from retrieval.keyterms import load_keyterms
from retrieval.decision import Ranked, check_answerable, prefer_covering, settle_check
from retrieval.search import Searcher, question_part
from tests.retrieval.tiny_kb import ROUTING, TEST_THRESHOLDS, build, write_kb

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"

TINY_KEYTERMS = """\
terms:
  - {id: traffic_fine, label: PROC, names: [nộp phạt, phạt nguội, vi phạm giao thông]}
  - {id: password, label: FEATURE, names: [mật khẩu, quên mật khẩu], guides: [vneid_forgot_password]}
  - {id: licence, label: DOC, names: [giấy phép lái xe, bằng lái]}
  - {id: app_vneid, label: AGENCY, names: [vneid]}
"""

TINY_CATALOGUE = """\
field: Thuế, phương tiện
procedures:
  - {id: tax_debt, title: "nợ thuế, tiền chậm nộp thuế", names: [nợ thuế, phạt chậm nộp tờ khai thuế]}
  - {id: idp, title: "giấy phép lái xe quốc tế", names: [giấy phép lái xe quốc tế, bằng lái quốc tế]}
  - {id: marriage, title: "đăng ký kết hôn", names: [đăng ký kết hôn]}
"""


@pytest.fixture
def tiny_terms(tmp_path: Path):
    folder = tmp_path / "terms"
    (folder / "uncovered").mkdir(parents=True)
    (folder / "keyterms.yml").write_text(TINY_KEYTERMS, encoding="utf-8")
    (folder / "uncovered" / "thue.yml").write_text(TINY_CATALOGUE, encoding="utf-8")
    return load_keyterms(folder)


def ids(keyterms, text: str) -> list[str]:
    return [e.term.id for e in keyterms.extract(text)]


# --- extraction -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Tôi bị nợ thuế thì làm sao", "toi bi no thue thi lam sao", "TÔI BỊ NỢ THUẾ ?"])
def test_accented_unaccented_and_upper_case_find_the_same_term(tiny_terms, text):
    assert ids(tiny_terms, text) == ["uncovered_tax_debt"]


def test_abbreviations_are_expanded_before_matching(tiny_terms):
    # "đk" -> "đăng ký" (core/text/abbreviations.yml)
    assert ids(tiny_terms, "thủ tục đk kết hôn") == ["uncovered_marriage"]


def test_the_longest_name_wins_over_a_shorter_one_inside_it(tiny_terms):
    assert ids(tiny_terms, "đổi giấy phép lái xe quốc tế ở đâu") == ["uncovered_idp"]
    assert ids(tiny_terms, "đổi giấy phép lái xe ở đâu") == ["licence"]


def test_entities_come_in_message_order_with_labels(tiny_terms):
    entities = tiny_terms.extract("quên mật khẩu vneid, còn nộp phạt nguội?")
    assert [(e.term.id, e.term.label) for e in entities] == [
        ("password", "FEATURE"),
        ("app_vneid", "AGENCY"),
        ("traffic_fine", "PROC"),
    ]
    assert entities[0].start < entities[1].start < entities[2].start
    assert entities[0].as_dict() == {
        "id": "password",
        "label": "FEATURE",
        "name": "mật khẩu",
        "text": "quen mat khau",
        "uncovered": False,
        "background": False,
    }


def test_no_terms_in_empty_or_unrelated_text(tiny_terms):
    assert tiny_terms.extract("") == []
    assert tiny_terms.extract("hôm nay trời đẹp quá") == []


def test_coverage_from_title_tags_and_explicit_guides(tiny_terms):
    guides = {
        "fines": Guide("fines", "Nộp phạt vi phạm giao thông", "", [], [], "", tags=["phạt nguội"]),
        "vneid_forgot_password": Guide("vneid_forgot_password", "Lấy lại tài khoản", "", [], [], ""),
        "route": Guide("route", "nợ thuế", "", [], [], "", kind="uncovered"),
    }
    coverage = tiny_terms.coverage(guides)
    assert coverage["fines"] == {"traffic_fine"}
    assert coverage["vneid_forgot_password"] == {"password"}  # listed under guides:
    assert "route" not in coverage  # routing entries cover nothing


def test_catalogue_entries_become_routing_entries(tiny_terms):
    routes = {g.id: g for g in tiny_terms.catalogue_guides()}
    assert set(routes) == {"uncovered_tax_debt", "uncovered_idp", "uncovered_marriage"}
    assert routes["uncovered_idp"].kind == "uncovered"
    assert routes["uncovered_idp"].title == "giấy phép lái xe quốc tế"


def test_bad_files_are_reported_not_raised(tmp_path):
    folder = tmp_path / "bad"
    (folder / "uncovered").mkdir(parents=True)
    (folder / "keyterms.yml").write_text(
        "terms:\n  - {id: x, label: NOPE, names: [a]}\n  - {id: y, label: DOC}\n"
        "  - {id: z, label: DOC, names: [hộ chiếu]}\n",
        encoding="utf-8",
    )
    (folder / "uncovered" / "broken.yml").write_text("procedures: [\n", encoding="utf-8")
    (folder / "uncovered" / "nolist.yml").write_text("field: x\n", encoding="utf-8")
    keyterms = load_keyterms(folder)
    assert set(keyterms.terms) == {"z"}
    messages = " | ".join(str(e) for e in keyterms.errors)
    assert "label" in messages and "names" in messages and "YAML" in messages and "procedures" in messages


def test_an_unquoted_title_with_a_comma_is_reported(tmp_path):
    folder = tmp_path / "comma"
    (folder / "uncovered").mkdir(parents=True)
    (folder / "uncovered" / "x.yml").write_text(
        "field: X\nprocedures:\n  - {id: a, title: một, hai, names: [ba]}\n", encoding="utf-8"
    )
    keyterms = load_keyterms(folder)
    assert any("ngoặc kép" in str(e) for e in keyterms.errors)


def test_a_name_under_two_terms_is_kept_by_the_first_and_reported(tmp_path):
    folder = tmp_path / "dup"
    folder.mkdir()
    (folder / "keyterms.yml").write_text(
        "terms:\n  - {id: a, label: DOC, names: [hộ chiếu]}\n  - {id: b, label: DOC, names: [ho chieu]}\n",
        encoding="utf-8",
    )
    keyterms = load_keyterms(folder)
    assert ids(keyterms, "làm hộ chiếu") == ["a"]
    assert any("ho chieu" in str(e) for e in keyterms.errors)


# --- the real staff files ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_terms():
    return load_keyterms(KNOWLEDGE)


def test_real_files_load_without_problems(real_terms):
    assert real_terms.errors == []


def test_real_catalogue_has_150_procedures_in_at_least_10_fields(real_terms):
    catalogue = [t for t in real_terms.terms.values() if t.uncovered]
    assert len(catalogue) >= 150
    assert len({t.field for t in catalogue}) >= 10
    assert all(t.title and t.names for t in catalogue)


@pytest.mark.parametrize(
    "text, term",
    [
        ("thu tuc dang ky ket hon voi nguoi nuoc ngoai", "uncovered_civil_marriage_foreign"),
        ("làm sổ đỏ cho mảnh đất ông bà để lại", "uncovered_land_first_certificate"),
        ("rút bhxh 1 lần", "uncovered_si_lump_sum"),
        ("con tôi đi nghĩa vụ quân sự", "uncovered_mil_registration"),
        ("xin giấy phép xây dựng nhà ở", "uncovered_build_permit"),
    ],
)
def test_real_catalogue_recognises_common_uncovered_procedures(real_terms, text, term):
    assert term in ids(real_terms, text)


def test_real_guides_cover_what_their_titles_name(real_terms):
    from retrieval.documents import load_guides

    guides, _ = load_guides(KNOWLEDGE)
    coverage = real_terms.coverage({g.id: g for g in guides})
    assert "passport" in coverage["dvc_passport"]
    assert "marital_status" in coverage["dvc_marital_status"]
    # no guide covers a catalogue procedure by accident of wording
    assert "uncovered_civil_marriage" not in coverage["dvc_marital_status"]


def test_extraction_is_cheap(real_terms):
    text = "Nhà tôi ở quê, con gái đi làm xa đã 2 năm, giờ nó muốn đăng ký kết hôn ở phường thì làm sao? " * 3
    real_terms.extract(text)
    started = time.perf_counter()
    for _ in range(50):
        real_terms.extract(text)
    assert (time.perf_counter() - started) / 50 < 0.02  # well under the 200 ms search budget


# --- the answerability check ------------------------------------------------------------------


def test_uncovered_procedure_not_covered_by_the_guide_stops_the_answer(tiny_terms):
    entities = tiny_terms.extract("nộp phạt chậm nộp tờ khai thuế ở đâu")
    blocking = check_answerable(entities, "fines", {"fines": frozenset({"traffic_fine"})})
    assert blocking is not None and blocking.term.id == "uncovered_tax_debt"


def test_a_covered_key_thing_named_first_keeps_the_answer(tiny_terms):
    entities = tiny_terms.extract("quên mật khẩu vneid khi đang đăng ký kết hôn online")
    assert check_answerable(entities, "pw", {"pw": frozenset({"password"})}) is None
    entities = tiny_terms.extract("đăng ký kết hôn mà quên mật khẩu vneid")
    assert check_answerable(entities, "pw", {"pw": frozenset({"password"})}).term.id == "uncovered_marriage"


@pytest.mark.parametrize(
    "text",
    [
        "đã đăng ký kết hôn, giờ quên mật khẩu vneid thì sao",
        "chưa đk kết hôn có đổi mật khẩu vneid được không",
        "dang ky ket hon roi, quen mat khau vneid",
        "đăng ký kết hôn xong mà quên mật khẩu",
    ],
)
def test_a_catalogue_procedure_marked_as_done_is_background_to_a_covered_question(tiny_terms, text):
    entities = tiny_terms.extract(text)
    assert [e.background for e in entities if e.term.uncovered] == [True]
    assert check_answerable(entities, "pw", {"pw": frozenset({"password"})}) is None


def test_a_background_procedure_still_stops_a_guide_that_covers_nothing_named(tiny_terms):
    entities = tiny_terms.extract("tôi đã đăng ký kết hôn rồi, giờ làm sao")
    assert check_answerable(entities, "pw", {"pw": frozenset({"password"})}).term.id == "uncovered_marriage"
    entities = tiny_terms.extract("đăng ký kết hôn thì có phải nộp phạt rồi mới làm không")  # not marked as done
    assert check_answerable(entities, "fines", {"fines": frozenset({"traffic_fine"})}).term.id == "uncovered_marriage"


def test_a_guide_that_covers_the_catalogue_procedure_may_answer(tiny_terms):
    entities = tiny_terms.extract("thủ tục đăng ký kết hôn")
    assert check_answerable(entities, "new_guide", {"new_guide": frozenset({"uncovered_marriage"})}) is None


def test_agencies_and_covered_terms_of_other_guides_do_not_stop(tiny_terms):
    entities = tiny_terms.extract("vneid bằng lái")
    assert check_answerable(entities, "x", {}) is None


def test_settle_check_turns_answer_into_a_routed_abstention(tiny_terms):
    entities = tiny_terms.extract("đăng ký kết hôn online")
    top = Ranked("fines", 0.9, 0.9, 0.9)
    action, guide_ids, stopper, label = settle_check("answer", ["fines"], top, entities, {})
    assert (action, guide_ids, stopper.term.id, label) == (
        "abstain",
        [],
        "uncovered_marriage",
        "uncovered:uncovered_marriage",
    )


def test_settle_check_keeps_the_clarify_options_that_pass(tiny_terms):
    entities = tiny_terms.extract("đăng ký kết hôn online")
    coverage = {"a": frozenset({"uncovered_marriage"}), "b": frozenset(), "c": frozenset({"uncovered_marriage"})}
    assert settle_check("clarify", ["a", "b", "c"], None, entities, coverage)[:2] == ("clarify", ["a", "c"])
    assert settle_check("clarify", ["a", "b"], None, entities, coverage)[:2] == ("answer", ["a"])


def test_settle_check_routes_an_abstention_and_leaves_unnamed_questions_alone(tiny_terms):
    entities = tiny_terms.extract("nợ thuế")
    action, _, stopper, _ = settle_check("abstain", [], Ranked("fines", 0.2, 0.2, 0.2), entities, {})
    assert action == "abstain" and stopper.term.id == "uncovered_tax_debt"
    assert settle_check("answer", ["fines"], None, [], {}) == ("answer", ["fines"], None, "")


# --- long messages ----------------------------------------------------------------------------


def test_question_part_of_a_story():
    story = (
        "Tôi năm nay 62 tuổi, con cái đi làm xa hết, hôm trước đứa cháu cài cho cái app định danh, "
        "giờ tôi quên mất mật khẩu rồi, lấy lại mật khẩu thì làm sao hả bạn"
    )
    assert question_part(story) == "lấy lại mật khẩu thì làm sao hả bạn"


def test_question_part_starts_at_cho_toi_hoi():
    story = (
        "Em mới sinh bé được 2 tuần, chồng em đi làm suốt không có thời gian lên phường, mẹ chồng bảo "
        "giờ làm trên mạng được, cho em hỏi đăng ký khai sinh online cho bé thì làm thế nào ạ?"
    )
    assert question_part(story) == "cho em hỏi đăng ký khai sinh online cho bé thì làm thế nào ạ?"


@pytest.mark.parametrize(
    "text",
    [
        "quên mật khẩu vneid thì làm sao",
        "",
        "một câu dài không có dấu phẩy nào cả mà vẫn đủ mười tám chữ để được coi là dài lắm rồi đó",
    ],
)
def test_short_or_unsplittable_messages_have_no_question_part(text):
    assert question_part(text) == ""


# --- in the searcher --------------------------------------------------------------------------


@pytest.fixture
def checked_searcher(tmp_path, encoder, tiny_terms):
    knowledge = write_kb(tmp_path / "knowledge", routing=ROUTING)
    path, problems, _ = build(knowledge, tmp_path / "index", encoder)
    assert path is not None and not problems
    from retrieval.index import load_index

    return Searcher(
        load_index(tmp_path / "index", expected_model=encoder.model_id), encoder, TEST_THRESHOLDS, tiny_terms
    )


def test_searcher_routes_a_question_naming_an_uncovered_procedure(checked_searcher):
    decision = checked_searcher.decide("bị phạt chậm nộp tờ khai thuế, đóng phạt qua ví điện tử được không")
    assert decision.top.guide_id == "dvc_traffic_fines"  # the wording is closest to the fines guide
    assert decision.action == "abstain"
    assert decision.route.guide_id == "uncovered_tax_debt"
    assert checked_searcher.index.guides["uncovered_tax_debt"].title == "nợ thuế, tiền chậm nộp thuế"
    meta = decision.as_metadata()
    assert meta["route"] == "uncovered:uncovered_tax_debt"
    assert [e["id"] for e in meta["entities"]][-1] == "uncovered_tax_debt"
    json.dumps(meta)


def test_searcher_still_answers_when_the_guide_covers_the_key_thing(checked_searcher):
    decision = checked_searcher.decide("Nộp phạt vi phạm giao thông online thế nào?")
    assert (decision.action, decision.guide_ids, decision.check) == ("answer", ["dvc_traffic_fines"], "covered")


def test_searcher_without_keyterms_answers_from_the_neighbour(checked_searcher):
    plain = Searcher(checked_searcher.index, checked_searcher.encoder, TEST_THRESHOLDS, None)
    decision = plain.decide("bị phạt chậm nộp tờ khai thuế, đóng phạt qua ví điện tử được không")
    assert decision.action == "answer"  # what the check prevents
    assert decision.as_metadata()["entities"] == []


def test_long_story_scores_the_question_part_and_keeps_the_story(checked_searcher):
    story = (
        "Tôi năm nay 62 tuổi, con cái đi làm xa hết, hôm trước đứa cháu cài cho cái app, đi chợ về thì "
        "mệt quá, giờ tôi quên mật khẩu VNeID thì lấy lại thế nào?"
    )
    decision = checked_searcher.decide(story)
    assert decision.question_part and decision.question_part in story
    assert decision.query == story
    assert decision.as_metadata()["question_part"] == decision.question_part
    assert decision.action == "answer" and decision.guide_ids == ["vneid_forgot_password"]


def test_follow_up_naming_a_thing_the_previous_topic_does_not_cover_gets_no_context(checked_searcher):
    plain = checked_searcher.decide("còn nợ thuế thì sao")
    follow = checked_searcher.decide("còn nợ thuế thì sao", context_topic="vneid_forgot_password")
    assert not follow.used_context
    assert follow.top.score == pytest.approx(plain.top.score)
    again = checked_searcher.decide("còn nếu quên mật khẩu lần nữa thì sao", context_topic="vneid_forgot_password")
    assert again.used_context


def _fake_decision(action: str, guide: str, score: float, route: bool = False):
    from retrieval.decision import Decision

    ranked = [Ranked(guide, score, score, score, "uncovered" if route else "guide")]
    return Decision(action, ranked, "", guide_ids=[guide] if action == "answer" else [])


@pytest.mark.parametrize(
    ("whole", "part", "chosen"),
    [
        (("answer", "vneid_register_level2", 0.6), ("answer", "vneid_register_level1", 0.8), "whole"),
        (("abstain", "vneid_register_level2", 0.4), ("answer", "vneid_register_level1", 0.7), "part"),
        (("clarify", "vneid_register_level2", 0.6), ("answer", "vneid_register_level1", 0.7), "part"),
        (("abstain", "uncovered_land", 0.7, True), ("answer", "vneid_register_level1", 0.8), "whole"),
        (("abstain", "vneid_register_level2", 0.5), ("abstain", "vneid_register_level1", 0.4), "whole"),
    ],
)
def test_the_question_part_rescues_but_never_overrules_the_whole(checked_searcher, monkeypatch, whole, part, chosen):
    story = (
        "Hôm trước tôi có tự làm tài khoản mức 1 trên app rồi, giờ nghe nói muốn dùng đủ tính năng thì "
        "phải lên mức 2, vậy tôi ra công an xã làm luôn được không?"
    )
    decisions = {"whole": _fake_decision(*whole), "part": _fake_decision(*part)}
    monkeypatch.setattr(
        checked_searcher,
        "_decide_text",
        lambda text, context, entities: decisions["whole" if text == story else "part"],
    )
    decision = checked_searcher.decide(story)
    assert decision is decisions[chosen]
    assert decision.scored_part == (chosen == "part") and decision.query == story


def test_a_which_one_keeps_only_the_offered_guides_that_cover_what_is_named(tiny_terms):
    entities = tiny_terms.extract("quên mật khẩu thì làm sao")
    ranked = [Ranked("wallet", 0.60, 0, 0), Ranked("login", 0.59, 0, 0), Ranked("forgot", 0.58, 0, 0)]
    coverage = {"wallet": frozenset(), "login": frozenset({"password"}), "forgot": frozenset({"password"})}
    assert prefer_covering("clarify", ["wallet", "login", "forgot"], ranked, entities, coverage, 0.5) == (
        "clarify",
        ["login", "forgot"],
    )
    assert prefer_covering("clarify", ["wallet", "login"], ranked, entities, coverage, 0.5) == ("answer", ["login"])


def test_a_which_one_between_guides_off_the_point_answers_the_close_guide_that_covers_it(tiny_terms):
    entities = tiny_terms.extract("bằng lái chưa hiện trong ví")
    ranked = [
        Ranked("wallet", 0.60, 0, 0),
        Ranked("insurance", 0.59, 0, 0),
        Ranked("licence", 0.57, 0, 0),
        Ranked("renewal", 0.40, 0, 0),
    ]
    coverage = {"licence": frozenset({"licence"}), "renewal": frozenset({"licence"})}
    assert prefer_covering("clarify", ["wallet", "insurance"], ranked, entities, coverage, 0.5) == (
        "answer",
        ["licence"],
    )
    far = [Ranked("wallet", 0.70, 0, 0), Ranked("insurance", 0.69, 0, 0), Ranked("licence", 0.57, 0, 0)]
    assert prefer_covering("clarify", ["wallet", "insurance"], far, entities, coverage, 0.5) == (
        "clarify",
        ["wallet", "insurance"],
    )


def test_answers_and_unnamed_questions_are_left_alone(tiny_terms):
    ranked = [Ranked("wallet", 0.60, 0, 0), Ranked("licence", 0.59, 0, 0)]
    coverage = {"licence": frozenset({"licence"})}
    named = tiny_terms.extract("bằng lái chưa hiện")
    assert prefer_covering("answer", ["wallet"], ranked, named, coverage, 0.5) == ("answer", ["wallet"])
    assert prefer_covering("clarify", ["wallet", "licence"], ranked, [], coverage, 0.5) == (
        "clarify",
        ["wallet", "licence"],
    )


def test_a_near_miss_far_ahead_is_answered_when_its_guide_covers_what_is_named(tiny_terms):
    from retrieval.decision import Thresholds, rescue_named

    t = Thresholds(dense_weight=0.8, top_k=2, answer=0.51, margin=0.02, clarify_floor=0.51, context_bonus=0.08)
    named = tiny_terms.extract("quên mật khẩu vneid")
    coverage = {"forgot": frozenset({"password", "app_vneid"})}
    ahead = [Ranked("forgot", 0.49, 0, 0), Ranked("other", 0.30, 0, 0)]
    assert rescue_named("abstain", [], ahead, named, coverage, t) == ("answer", ["forgot"])
    close = [Ranked("forgot", 0.49, 0, 0), Ranked("other", 0.42, 0, 0)]
    assert rescue_named("abstain", [], close, named, coverage, t) == ("abstain", [])
    low = [Ranked("forgot", 0.40, 0, 0), Ranked("other", 0.20, 0, 0)]
    assert rescue_named("abstain", [], low, named, coverage, t) == ("abstain", [])
    assert rescue_named("abstain", [], ahead, named, {"forgot": frozenset()}, t) == ("abstain", [])
    assert rescue_named("abstain", [], ahead, [], coverage, t) == ("abstain", [])
