"""The dialogue state in slots: follow-ups, typed choices, situations, yes / no read in context."""

from __future__ import annotations

import pytest

from actions.answer import ActionAnswerQuestion
from actions.conversation import ActionReplyInContext
from tests.actions.action_kit import make_tracker, run_action

FORGOT = "vneid_forgot_password"
ACTIVATE = "vneid_activate"


def dvc(messages: list[dict]) -> list[dict]:
    return [m["custom"]["dvc"] for m in messages if m.get("custom")]


def state(events: list[dict]) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def followups(events: list[dict]) -> list[str]:
    return [e["name"] for e in events if e.get("event") == "followup"]


def test_an_answer_sets_the_topic_and_the_pending_helpful_question(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker("Quên mật khẩu VNeID thì lấy lại thế nào?"))
    assert dvc(messages)[-1]["resolved_from"] == "search"
    slots = state(events)
    assert (slots["last_topic"], slots["pending"], slots["choices"]) == (FORGOT, "helpful", None)


def test_a_bare_follow_up_is_answered_from_the_current_topic(index_dir):
    messages, events = run_action(
        ActionAnswerQuestion(), make_tracker("mất bao lâu vậy", slots={"last_topic": ACTIVATE})
    )
    meta = dvc(messages)[-1]
    assert (meta["decision"], meta["guide_ids"], meta["resolved_from"]) == ("answer", [ACTIVATE], "follow_up")
    assert meta["context"]["topic"] == ACTIVATE


def test_a_typed_reply_picks_one_of_the_offered_guides(index_dir):
    tracker = make_tracker(
        "cái kích hoạt tài khoản ấy",
        slots={"choices": [FORGOT, ACTIVATE], "pending": "choices", "last_question": "vneid"},
    )
    messages, events = run_action(ActionAnswerQuestion(), tracker)
    meta = dvc(messages)[-1]
    assert (meta["decision"], meta["guide_ids"], meta["resolved_from"]) == ("answer", [ACTIVATE], "choice")
    assert state(events)["choices"] is None


def test_danger_gets_the_emergency_numbers_first_and_a_pending_safety_concern(index_dir):
    messages, events = run_action(
        ActionAnswerQuestion(), make_tracker("co thang say ruou cam dao doa giet ca nha toi ngoai cong")
    )
    assert "113" in messages[0]["text"]
    assert state(events)["pending"] == "safety" and state(events)["safety_concern"] == "threat"
    after, events = run_action(
        ActionAnswerQuestion(),
        make_tracker("công an đang tới rồi", slots={"pending": "safety", "safety_concern": "threat"}),
    )
    assert dvc(after)[-1]["decision"] == "safety_followup"
    assert state(events)["pending"] is None


def test_a_policy_case_gets_advice_then_the_offer(index_dir):
    messages, events = run_action(ActionAnswerQuestion(), make_tracker("ngày sinh trên vneid của tôi bị ghi sai"))
    assert "công an" in messages[0]["text"]
    assert followups(events) == ["action_offer_handoff"]


def test_yes_after_an_offer_hands_off_and_after_an_answer_is_feedback():
    _, events = run_action(
        ActionReplyInContext(), make_tracker("ok", intent="affirm", slots={"pending": "offer_human"})
    )
    assert followups(events) == ["action_request_human"]
    messages, events = run_action(
        ActionReplyInContext(), make_tracker("ok", intent="affirm", slots={"pending": "helpful", "last_topic": FORGOT})
    )
    assert dvc(messages)[-1] == {
        "decision": "feedback",
        "guide_ids": [FORGOT],
        "helpful": True,
        "context": {"topic": FORGOT, "pending": "helpful"},
        "resolved_from": "reply:helpful",
    }
    assert state(events)["pending"] is None


def test_no_to_which_one_offers_a_person_and_no_after_an_offer_is_acknowledged():
    messages, events = run_action(
        ActionReplyInContext(), make_tracker("không", intent="deny", slots={"pending": "choices", "choices": [FORGOT]})
    )
    assert "/request_human" in [b["payload"] for m in messages for b in m.get("buttons") or []]
    assert state(events)["pending"] == "offer_human"
    messages, events = run_action(
        ActionReplyInContext(), make_tracker("không cần", intent="deny", slots={"pending": "offer_human"})
    )
    assert followups(events) == [] and state(events)["pending"] is None


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("có người xưng công an đòi mã otp", True),
        ("nhân viên ngân hàng hỏi mật khẩu vneid có đưa không", True),
        ("tổng đài viên có hỏi otp của tôi không", True),
        ("cán bộ bảo đọc mã otp cho họ có sao không", True),
        ("bạn ơi quên mật khẩu thì cần làm gì", False),
        ("quen mat khau dang nhap cai app cong an, lay lai bang cach nao", False),
        ("ai chỉ mình cách đổi mật khẩu vneid với", False),
        ("muốn đổi mật khẩu thì cần gì bạn", False),
        ("con gái tôi cho bạn mượn số căn cước với mật khẩu VNeID, giờ phải làm gì", True),
        ("cho bạn mượn điện thoại có sao không", False),
    ],
)
def test_questions_about_who_may_ask_for_a_secret(text, secret):
    from actions.answer import _plain, is_secret_question

    assert is_secret_question(_plain(text)) is secret
