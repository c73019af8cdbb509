"""actions/answer.py and actions/conversation.py, run with rasa_sdk's CollectingDispatcher."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from actions import replies
from actions.answer import ActionAnswerChosenTopic, ActionAnswerQuestion
from actions.conversation import ActionRecordFeedback, ActionRequestHuman
from retrieval.index import current_build
from retrieval.decision import Thresholds
from tests.actions.action_kit import make_tracker, run_action, set_thresholds

PROJECT = Path(__file__).resolve().parents[3]
FORGOT = "vneid_forgot_password"
ACTIVATE = "vneid_activate"
EXACT_QUESTION = "Quên mật khẩu VNeID thì lấy lại thế nào?"
GIBBERISH = "asdkjh qwe zzxq"

# A request that the citizen hand over a secret: "gửi/cung cấp/nhắn/đọc (cho tôi) mật khẩu/OTP/passcode".
# ("nhập mã OTP" is fine: that is typing it into the official app.)
SECRET_REQUEST = re.compile(
    r"(gửi|cung cấp|nhắn|đọc|cho (tôi|mình|em) biết)\s+(lại\s+)?(cho\s+(tôi|mình|chúng tôi|em)\s+)?"
    r"(mật khẩu|mã otp|otp|mã bảo vệ|passcode)",
    re.IGNORECASE,
)
# ... unless it is a warning: a negation shortly before it ("Xin đừng gửi mật khẩu").
NEGATION = re.compile(r"\b(đừng|không|chớ)\b", re.IGNORECASE)


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


def dvc(messages: list[dict]) -> dict:
    """The one machine-readable {"dvc": {...}} payload among the messages."""
    found = [m["custom"]["dvc"] for m in messages if m.get("custom")]
    assert len(found) == 1, messages
    return found[0]


def buttons(messages: list[dict]) -> list[dict]:
    return [b for m in messages for b in m.get("buttons") or []]


STATE_SLOTS = {"topic_section", "choices", "pending", "safety_concern", "offer_reason"}


def slots(events: list[dict]) -> dict:
    """The slots set, without the dialogue-state slots (tests/actions/test_dialogue.py checks those)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot" and e["name"] not in STATE_SLOTS}


def state(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot" and e["name"] in STATE_SLOTS}


def assert_no_secret_request(text: str) -> None:
    """The bot may warn not to share a password/OTP; it must never ask for one."""
    for match in SECRET_REQUEST.finditer(text):
        before = text[max(0, match.start() - 30) : match.start()]
        assert NEGATION.search(before), (
            f"reply seems to ask for a secret: {text[max(0, match.start() - 40) : match.end() + 20]!r}"
        )


# ------------------------------------------------------------------ ActionAnswerQuestion


def test_answer_contains_title_source_feedback_buttons_and_metadata(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker(EXACT_QUESTION))
    body = texts(messages)[0]
    assert "Quên mật khẩu đăng nhập VNeID" in body
    assert "Nguồn: https://example.gov.vn/quen-mat-khau" in body
    assert "{hotline" not in body and "{province}" not in body  # placeholders are filled
    payloads = [b["payload"] for b in buttons(messages)]
    assert payloads == [
        replies.payload("feedback_helpful", topic_id=FORGOT),
        replies.payload("feedback_not_helpful", topic_id=FORGOT),
    ]
    meta = dvc(messages)
    assert meta["decision"] == "answer"
    assert meta["guide_ids"] == [FORGOT]
    assert meta["route"] is None
    assert meta["ranking"][0]["id"] == FORGOT
    assert isinstance(meta["section"], int)
    assert slots(events) == {
        "last_topic": FORGOT,
        "last_question": EXACT_QUESTION,
        "abstain_count": 0,
        "unhelpful_topic": None,
    }


def test_answer_shows_the_section_that_fits_and_fills_the_hotline(index_dir, monkeypatch):
    monkeypatch.setenv("HOTLINE_NUMBER", "9999")
    monkeypatch.setenv("HOTLINE_HOURS", "7h-17h")
    monkeypatch.setenv("PROVINCE_NAME", "Tỉnh Thử")
    messages, _ = run_action(
        ActionAnswerQuestion(), make_tracker("không nhận được OTP để đặt lại mật khẩu VNeID thì gọi tổng đài nào")
    )
    body = texts(messages)[0]
    assert dvc(messages)["guide_ids"] == [FORGOT]
    assert "Khi nào cần gọi tổng đài:" in body
    assert "gọi 9999 (7h-17h) tại Tỉnh Thử" in body

    nfc, _ = run_action(ActionAnswerQuestion(), make_tracker("Điện thoại không có NFC thì kích hoạt VNeID được không?"))
    assert dvc(nfc)["guide_ids"] == [ACTIVATE]
    assert "Điện thoại không có NFC khi kích hoạt VNeID:" in texts(nfc)[0]
    assert "https://example.gov.vn/kich-hoat" in texts(nfc)[0]


@pytest.mark.parametrize("question", ["quen mat khau vneid", "quên mk vneid r, lấy lại sao"])
def test_unaccented_and_teencode_questions_are_answered(index_dir, question):
    messages, _ = run_action(ActionAnswerQuestion(), make_tracker(question))
    assert dvc(messages)["decision"] == "answer"
    assert dvc(messages)["guide_ids"] == [FORGOT]


def test_abstain_offers_a_person_and_counts(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker(GIBBERISH, slots={"abstain_count": 1}))
    assert [b["payload"] for b in buttons(messages)] == ["/request_human"]
    meta = dvc(messages)
    assert meta["decision"] == "abstain"
    assert meta["guide_ids"] == []
    assert meta["reason"] == "low_confidence"
    assert "tổng đài viên" in texts(messages)[0]
    assert slots(events) == {"abstain_count": 2}


def test_abstain_text_uses_the_configured_hotline(index_dir, monkeypatch):
    monkeypatch.setenv("HOTLINE_NUMBER", "9999")
    monkeypatch.setenv("HOTLINE_NAME", "Tổng đài Thử")
    messages, _ = run_action(ActionAnswerQuestion(), make_tracker(GIBBERISH))
    text = texts(messages)[0]
    assert "9999" in text and "Tổng đài Thử" in text
    assert "1022" not in text


def test_a_complaint_gets_the_advice_then_the_offer_of_a_person(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker("Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ"))
    meta = dvc(messages)
    assert (meta["decision"], meta["situation"], meta["resolved_from"]) == (
        "advice",
        "complaint",
        "situation:complaint",
    )
    assert [e["name"] for e in events if e["event"] == "followup"] == ["action_offer_handoff"]
    assert state(events)["offer_reason"] == "policy:handoff_complaint"
    assert "last_topic" not in slots(events)


@pytest.mark.parametrize(
    "question, route",
    [
        ("thủ tục đăng ký kết hôn cần giấy tờ gì", "uncovered:uncovered_marriage"),
    ],
)
def test_routing_entries_are_never_answered(index_dir, question, route):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker(question))
    meta = dvc(messages)
    assert meta["decision"] == "abstain"
    assert meta["route"] == route
    assert "/request_human" in [b["payload"] for b in buttons(messages)]
    assert "last_topic" not in slots(events)


def test_no_index_at_all_gives_a_safe_abstain(monkeypatch):
    monkeypatch.setenv("HOTLINE_NUMBER", "9999")
    messages, events = run_action(ActionAnswerQuestion(), make_tracker(EXACT_QUESTION))
    meta = dvc(messages)
    assert meta == {"decision": "abstain", "guide_ids": [], "reason": "search_unavailable"}
    assert "9999" in texts(messages)[0]
    assert [b["payload"] for b in buttons(messages)] == ["/request_human"]
    assert slots(events) == {"abstain_count": 1}


def test_broken_index_gives_a_safe_abstain(index_dir):
    build = current_build(index_dir)
    (build / "units.jsonl").write_text("garbage\n", encoding="utf-8")
    messages, _ = run_action(ActionAnswerQuestion(), make_tracker(EXACT_QUESTION))
    assert dvc(messages)["reason"] == "search_unavailable"


def test_close_guides_ask_the_citizen_to_choose(index_dir, monkeypatch):
    set_thresholds(monkeypatch, Thresholds(answer=0.3, margin=0.5, clarify_floor=0.3))
    messages, events = run_action(ActionAnswerQuestion(), make_tracker("vneid"))
    meta = dvc(messages)
    assert meta["decision"] == "clarify"
    assert set(meta["guide_ids"]) == {FORGOT, ACTIVATE}
    payloads = [b["payload"] for b in buttons(messages)]
    assert payloads[:-1] == [replies.payload("choose_topic", topic_id=g) for g in meta["guide_ids"]]
    assert payloads[-1] == "/request_human"
    titles = [b["title"] for b in buttons(messages)]
    assert "Quên mật khẩu đăng nhập VNeID" in titles
    assert slots(events) == {"last_question": "vneid"}


def test_follow_up_uses_the_last_topic(index_dir, monkeypatch):
    set_thresholds(
        monkeypatch,
        Thresholds(dense_weight=0.5, top_k=3, answer=0.35, margin=0.04, clarify_floor=0.5, context_bonus=0.08),
    )
    messages, _ = run_action(
        ActionAnswerQuestion(), make_tracker("còn nếu không có NFC thì sao?", slots={"last_topic": FORGOT})
    )
    meta = dvc(messages)
    assert (meta["decision"], meta["guide_ids"], meta["resolved_from"]) == ("answer", [FORGOT], "follow_up")
    assert meta["context"] == {"topic": FORGOT}


def test_out_of_scope_intent_with_weak_match_says_so_without_guessing(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker("hôm nay trời đẹp quá", intent="out_of_scope"))
    meta = dvc(messages)
    assert (meta["decision"], meta["reason"], meta["guide_ids"]) == ("abstain", "out_of_scope", [])
    assert "VNeID" in texts(messages)[0]
    assert slots(events) == {} and not [e for e in events if e["event"] != "slot"]


def test_out_of_scope_intent_with_a_strong_match_still_answers(index_dir):
    messages, _ = run_action(ActionAnswerQuestion(), make_tracker(EXACT_QUESTION, intent="out_of_scope"))
    assert dvc(messages)["decision"] == "answer"
    assert dvc(messages)["guide_ids"] == [FORGOT]


def test_long_section_is_clipped_with_a_pointer_to_the_source():
    from retrieval.documents import Guide, Section

    long_text = "\n".join(f"{i}. Bước làm thủ tục số {i} trên ứng dụng VNeID, đọc kỹ hướng dẫn." for i in range(60))
    guide = Guide(
        id="g",
        title="Tiêu đề",
        summary="Tóm tắt.",
        questions=["q"],
        sources=["https://x.gov.vn/a"],
        updated="2026-11-28",
        sections=[Section("Các bước", long_text, 10)],
    )
    messages = replies.answer_messages(guide, 0, replies.Hotline(), None)
    body = messages[0]["text"]
    assert "(Hướng dẫn còn tiếp" in body
    assert body.endswith("Nguồn: https://x.gov.vn/a")
    shown = body.split("Các bước:\n", 1)[1].split("\n\n")[0]
    assert len(shown) <= replies.MAX_SECTION_CHARS + 2
    assert shown.endswith(" …")
    assert messages[2]["custom"]["dvc"] == {"decision": "answer", "guide_ids": ["g"], "section": 0}


def test_clip_never_exceeds_the_limit_even_without_spaces():
    clipped, was_clipped = replies._clip("x" * 3000)
    assert was_clipped
    assert len(clipped) <= replies.MAX_SECTION_CHARS + 2


def test_payload_is_valid_rasa_intent_syntax():
    payload = replies.payload("choose_topic", topic_id="vneid_passcode")
    intent, entities = re.fullmatch(r"/(\w+)(\{.*\})", payload).groups()
    assert intent == "choose_topic" and json.loads(entities) == {"topic_id": "vneid_passcode"}
    assert replies.payload("request_human") == "/request_human"


# ------------------------------------------------------------------ ActionAnswerChosenTopic


def test_chosen_topic_answers_from_that_guide(index_dir):
    tracker = make_tracker(
        '/choose_topic{"topic_id": "vneid_activate"}',
        intent="choose_topic",
        entities=[{"entity": "topic_id", "value": ACTIVATE}],
        slots={"last_question": "điện thoại không có NFC thì sao", "abstain_count": 2},
    )
    messages, events = run_action(ActionAnswerChosenTopic(), tracker)
    body = texts(messages)[0]
    assert "Kích hoạt tài khoản định danh điện tử VNeID" in body
    assert "https://example.gov.vn/kich-hoat" in body
    assert "Điện thoại không có NFC khi kích hoạt VNeID:" in body
    meta = dvc(messages)
    assert (meta["decision"], meta["guide_ids"]) == ("answer", [ACTIVATE])
    assert slots(events) == {"last_topic": ACTIVATE, "abstain_count": 0}


def test_chosen_topic_that_does_not_exist_abstains(index_dir):
    tracker = make_tracker(
        "/choose_topic", intent="choose_topic", entities=[{"entity": "topic_id", "value": "no_such_topic"}]
    )
    messages, events = run_action(ActionAnswerChosenTopic(), tracker)
    assert dvc(messages) == {"decision": "abstain", "guide_ids": [], "reason": "unknown_topic"}
    assert events == []


def test_chosen_topic_without_index_abstains(monkeypatch):
    tracker = make_tracker("/choose_topic", intent="choose_topic", entities=[{"entity": "topic_id", "value": FORGOT}])
    messages, _ = run_action(ActionAnswerChosenTopic(), tracker)
    assert dvc(messages)["reason"] == "search_unavailable"


def test_chosen_topic_that_is_a_routing_entry_is_not_answered(index_dir):
    tracker = make_tracker(
        '/choose_topic{"topic_id": "handoff_complaint"}',
        intent="choose_topic",
        entities=[{"entity": "topic_id", "value": "handoff_complaint"}],
    )
    messages, _ = run_action(ActionAnswerChosenTopic(), tracker)
    assert dvc(messages)["decision"] != "answer"


# ------------------------------------------------------------------ feedback and handoff


def test_helpful_feedback_thanks_and_records_the_topic():
    tracker = make_tracker(
        '/feedback_helpful{"topic_id": "vneid_activate"}',
        intent="feedback_helpful",
        entities=[{"entity": "topic_id", "value": ACTIVATE}],
    )
    messages, events = run_action(ActionRecordFeedback(), tracker)
    assert "Cảm ơn" in texts(messages)[0]
    assert buttons(messages) == []
    assert dvc(messages) == {"decision": "feedback", "guide_ids": [ACTIVATE], "helpful": True}
    assert slots(events) == {"last_topic": ACTIVATE, "unhelpful_topic": None}


def test_unhelpful_feedback_offers_a_person_and_falls_back_to_last_topic():
    tracker = make_tracker("/feedback_not_helpful", intent="feedback_not_helpful", slots={"last_topic": FORGOT})
    messages, events = run_action(ActionRecordFeedback(), tracker)
    assert [b["payload"] for b in buttons(messages)] == ["/request_human"]
    assert dvc(messages) == {"decision": "feedback", "guide_ids": [FORGOT], "helpful": False}
    assert slots(events) == {"last_topic": FORGOT, "unhelpful_topic": FORGOT}


def test_feedback_without_any_topic_sets_nothing():
    messages, events = run_action(ActionRecordFeedback(), make_tracker("/feedback_helpful", intent="feedback_helpful"))
    assert dvc(messages)["guide_ids"] == []
    assert events == []


def test_request_human_gives_the_hotline_and_warns_about_secrets(monkeypatch):
    monkeypatch.setenv("HOTLINE_NUMBER", "9999")
    monkeypatch.setenv("HOTLINE_NAME", "Tổng đài Thử")
    messages, events = run_action(ActionRequestHuman(), make_tracker("cho tôi gặp người thật", intent="request_human"))
    text = texts(messages)[0]
    assert "9999" in text and "Tổng đài Thử" in text
    assert "đừng gửi mật khẩu" in text.lower()
    assert "OTP" in text and "passcode" in text
    assert dvc(messages) == {"decision": "handoff", "guide_ids": [], "reason": "citizen_request"}
    assert slots(events) == {"abstain_count": 0}


# ------------------------------------------------------------------ never ask for secrets


def test_no_reply_ever_asks_for_a_password_or_otp(index_dir, monkeypatch):
    replies_seen: list[str] = []
    for question in [
        EXACT_QUESTION,
        "quen mat khau vneid",
        "không nhận được OTP để đặt lại mật khẩu VNeID",
        "Điện thoại không có NFC thì kích hoạt VNeID được không?",
        GIBBERISH,
        "Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ",
    ]:
        for intent in ("ask_procedure", "out_of_scope"):
            messages, _ = run_action(ActionAnswerQuestion(), make_tracker(question, intent=intent))
            replies_seen += texts(messages)
    for intent in ("feedback_helpful", "feedback_not_helpful"):
        replies_seen += texts(run_action(ActionRecordFeedback(), make_tracker("", intent=intent))[0])
    replies_seen += texts(run_action(ActionRequestHuman(), make_tracker("", intent="request_human"))[0])
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
    for variants in (domain.get("responses") or {}).values():
        replies_seen += [v["text"] for v in variants if v.get("text")]
    assert len(replies_seen) > 20
    for text in replies_seen:
        assert_no_secret_request(text)
    # The checker itself catches a request and lets a warning through.
    with pytest.raises(AssertionError):
        assert_no_secret_request("Bạn vui lòng gửi mật khẩu và mã OTP để tôi kiểm tra.")
    with pytest.raises(AssertionError):
        assert_no_secret_request("Hãy cho tôi biết mã OTP vừa nhận.")
    assert_no_secret_request("Xin đừng gửi mật khẩu, mã OTP cho bất kỳ ai.")


def test_actions_are_declared_in_the_domain():
    domain = yaml.safe_load((PROJECT / "domain.yml").read_text(encoding="utf-8"))
    names = {
        a().name() for a in (ActionAnswerQuestion, ActionAnswerChosenTopic, ActionRecordFeedback, ActionRequestHuman)
    }
    assert names <= set(domain["actions"])
    assert {"last_topic", "last_question", "abstain_count"} <= set(domain["slots"])
    assert "topic_id" in domain["entities"]
