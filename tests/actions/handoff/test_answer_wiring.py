"""actions/answer.py hands over to the handoff triggers: urgent words, and the offer of a person
after two abstentions in a row or a "handoff" routing entry (FollowupAction action_offer_handoff)."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import ActionAnswerQuestion
from handoff.triggers import OFFER_ACTION, should_offer_handoff
from retrieval import decision as decision_mod
from retrieval import service as service_mod
from tests.retrieval.tiny_kb import TEST_THRESHOLDS, publish_tiny_index

GIBBERISH = "asdkjh qwe zzxq"


@pytest.fixture()
def index_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(service_mod._service, "value", None)
    monkeypatch.setattr(decision_mod.Thresholds, "load", classmethod(lambda cls, path=None: TEST_THRESHOLDS))
    return publish_tiny_index(tmp_path, monkeypatch)


def ask(text: str, abstain_count: float = 0, unhelpful_topic: str | None = None) -> tuple[list[dict], list[dict]]:
    latest = {"text": text, "intent": {"name": "ask_procedure", "confidence": 0.9}, "entities": []}
    tracker = Tracker.from_dict(
        {
            "sender_id": "u",
            "slots": {
                "last_topic": None,
                "last_question": None,
                "abstain_count": abstain_count,
                "unhelpful_topic": unhelpful_topic,
            },
            "latest_message": latest,
            "events": [{"event": "user", "text": text, "parse_data": latest}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswerQuestion().run(dispatcher, tracker, {}))
    return dispatcher.messages, [dict(e) for e in events]


def followups(events: list[dict]) -> list[str]:
    return [e["name"] for e in events if e["event"] == "followup"]


def test_trigger_rule():
    assert should_offer_handoff({"decision": "abstain", "route": "handoff:handoff_complaint"}, 1)
    assert not should_offer_handoff({"decision": "abstain", "route": "uncovered:uncovered_land"}, 1)
    assert should_offer_handoff({"decision": "abstain", "route": None}, 2)
    assert should_offer_handoff(None, 2)
    assert not should_offer_handoff({"decision": "answer"}, 5)


def test_second_abstention_in_a_row_offers_a_person(index_dir):
    _, first = ask(GIBBERISH, abstain_count=0)
    assert followups(first) == []
    _, second = ask(GIBBERISH, abstain_count=1)
    assert followups(second) == [OFFER_ACTION]


def test_a_handoff_routing_entry_offers_a_person_at_once(index_dir):
    _, events = ask("Tôi muốn khiếu nại cán bộ tiếp nhận hồ sơ")
    assert followups(events) == [OFFER_ACTION]


def test_an_answer_offers_nothing(index_dir):
    _, events = ask("Quên mật khẩu VNeID thì lấy lại thế nào?", abstain_count=1)
    assert followups(events) == []


def test_urgent_words_get_the_emergency_numbers_first(index_dir):
    messages, _ = ask("nhà tôi đang bị cháy, quên mật khẩu VNeID")
    assert messages[0]["text"].startswith("⚠️") and "114" in messages[0]["text"]
    assert any((m.get("custom") or {}).get("dvc") for m in messages)  # and the question is still handled


FORGOT = "Quên mật khẩu VNeID thì lấy lại thế nào?"


def test_asking_again_after_not_helpful_offers_a_person_instead_of_the_same_answer(index_dir):
    messages, events = ask(FORGOT, unhelpful_topic="vneid_forgot_password")
    assert followups(events) == [OFFER_ACTION]
    assert not any((m.get("custom") or {}).get("dvc", {}).get("decision") == "answer" for m in messages)
    # the same after "not helpful" when nothing fits at all
    _, events = ask(GIBBERISH, unhelpful_topic="vneid_forgot_password")
    assert followups(events) == [OFFER_ACTION]


def test_asking_something_else_after_not_helpful_is_answered(index_dir):
    messages, events = ask(FORGOT, unhelpful_topic="dvc_traffic_fines")
    assert followups(events) == []
    assert [m["custom"]["dvc"]["guide_ids"] for m in messages if (m.get("custom") or {}).get("dvc")] == [
        ["vneid_forgot_password"]
    ]
    assert {"event": "slot", "name": "unhelpful_topic", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


def test_a_hidden_password_gets_a_warning(index_dir):
    messages, _ = ask("mật khẩu là [đã ẩn] mà không đăng nhập được VNeID")
    assert messages[0]["text"].startswith("🔒") and "không bao giờ hỏi" in messages[0]["text"]
    messages, _ = ask(FORGOT)
    assert not any((m.get("text") or "").startswith("🔒") for m in messages)
