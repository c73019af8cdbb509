"""actions/conversation.py handoff actions with rasa_sdk's CollectingDispatcher (no servers)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import (
    ActionOfferHandoff,
    ActionRequestHuman,
    ActionSubmitCallback,
    ValidateCallbackForm,
)
from actions.replies import OFFER_QUESTION
from handoff.passwords import hash_password
from handoff.store import Store

RANKING = [
    {"id": "vneid_forgot_password", "score": 0.41, "lexical": 0.3, "dense": 0.5},
    {"id": "vneid_passcode", "score": 0.33, "lexical": 0.2, "dense": 0.4},
]


def tracker(
    text: str,
    intent: str,
    history: list[dict] | None = None,
    sender: str = "citizen-1",
    channel: str = "webchat",
    slots: dict | None = None,
    requested_slot: str | None = None,
    after: list[dict] | None = None,
) -> Tracker:
    now = time.time()
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": []}
    events = [{"event": "action", "name": "action_listen", "timestamp": now - 60}]
    for i, e in enumerate(history or []):
        events.append({"timestamp": now - 50 + i, **e})
    events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": channel, "timestamp": now - 1})
    events += [{"timestamp": now, **e} for e in after or []]
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {
                "last_topic": None,
                "last_question": None,
                "abstain_count": 1,
                "requested_slot": requested_slot,
                **(slots or {}),
            },
            "latest_message": latest,
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": "callback_form"} if requested_slot else {},
            "latest_action_name": "action_listen",
            "latest_input_channel": channel,
        }
    )


def run(action, t: Tracker, domain: dict | None = None) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, domain or {}))
    return dispatcher.messages, [dict(e) for e in events]


def texts(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages if m.get("text"))


def dvc(messages: list[dict]) -> dict:
    found = [m["custom"]["dvc"] for m in messages if m.get("custom")]
    assert len(found) == 1, messages
    return found[0]


@pytest.fixture()
def db(tmp_path, monkeypatch) -> Store:
    url = f"sqlite:///{tmp_path / 'handoff.sqlite3'}"
    monkeypatch.setenv("HANDOFF_DATABASE_URL", url)
    monkeypatch.setenv("HANDOFF_HOURS", "24/7")
    monkeypatch.setenv("HOTLINE_NUMBER", "9999")
    monkeypatch.setenv("HOTLINE_NAME", "Tổng đài Thử")
    store = Store(url)
    yield store
    store.close()


def agent_online(store: Store) -> int:
    agent = store.create_agent("alice", "Alice", hash_password("x" * 12, n=2**4))
    store.heartbeat(agent)
    return agent


HISTORY = [
    {
        "event": "user",
        "text": "mật khẩu là abc123 mà không vào được VNeID, cccd 079123456789",
        "parse_data": {"intent": {"name": "ask_procedure", "confidence": 0.9}},
    },
    {
        "event": "bot",
        "text": "Xin lỗi, tôi chưa tìm được hướng dẫn chắc chắn đúng…",
        "data": {"buttons": [{"title": "Gặp tổng đài viên", "payload": "/request_human"}]},
    },
    {
        "event": "bot",
        "text": None,
        "data": {
            "custom": {
                "dvc": {
                    "decision": "abstain",
                    "route": None,
                    "guide_ids": [],
                    "ranking": RANKING,
                    "reason": "low_confidence",
                }
            }
        },
    },
]


def test_in_hours_with_an_agent_online_the_citizen_is_queued_and_the_bot_pauses(db):
    agent_online(db)
    messages, events = run(ActionRequestHuman(), tracker("cho tôi gặp nhân viên", "request_human", HISTORY))
    assert {"event": "pause", "timestamp": events[-1]["timestamp"]} == events[-1]
    assert {"event": "slot", "name": "abstain_count", "value": 0} in [
        {k: e[k] for k in ("event", "name", "value")} for e in events if e["event"] == "slot"
    ]
    text = texts(messages)
    assert "người tiếp theo" in text and "Tổng đài Thử" in text and "9999" in text
    assert "đừng gửi mật khẩu" in text.lower()
    meta = dvc(messages)
    assert meta["decision"] == "handoff" and meta["reason"] == "citizen_request"
    assert meta["handoff"] == "queued" and meta["position"] == 1

    [h] = db.list_handoffs()
    assert (h["sender_id"], h["channel"], h["status"]) == ("citizen-1", "webchat", "queued")
    assert h["reason"] == "citizen_request"
    u = h["understanding"]
    assert u["last_intent"] == "request_human" and u["previous_intent"] == "ask_procedure"
    assert u["decision"] == "abstain" and u["decision_reason"] == "low_confidence"
    assert [g["id"] for g in u["top_guides"]] == ["vneid_forgot_password", "vneid_passcode"]
    assert u["top_guides"][0]["score"] == 0.41
    assert "abc123" not in u["question"]
    stored = db.messages(h["id"])
    assert [m["role"] for m in stored] == ["user", "bot", "user"]
    assert "abc123" not in stored[0]["text"] and "[đã ẩn]" in stored[0]["text"]

    # a second citizen is told their place
    messages, _ = run(ActionRequestHuman(), tracker("gặp người thật", "request_human", sender="citizen-2"))
    assert "vị trí số 2" in texts(messages) and dvc(messages)["position"] == 2


def test_no_agent_online_gives_the_hotline_and_offers_a_call_back(db):
    messages, events = run(ActionRequestHuman(), tracker("cho tôi gặp nhân viên", "request_human"))
    assert [e["event"] for e in events] == ["slot"]  # no pause
    text = texts(messages)
    assert "chưa có tổng đài viên trực tuyến" in text and "9999" in text and "Tổng đài Thử" in text
    assert dvc(messages) == {"decision": "handoff", "guide_ids": [], "reason": "citizen_request"}
    payloads = [b["payload"] for m in messages for b in m.get("buttons") or []]
    assert payloads == ["/affirm", "/deny"]
    assert db.latest_handoff("citizen-1")["status"] == "offline"
    assert db.list_handoffs() == []


def test_out_of_hours_says_when_agents_are_there(db, monkeypatch):
    agent_online(db)
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date().isoformat()
    monkeypatch.setenv("HANDOFF_HOURS", "mon-fri 07:30-17:00")
    monkeypatch.setenv("HANDOFF_HOLIDAYS", today)
    messages, events = run(ActionRequestHuman(), tracker("cho tôi gặp nhân viên", "request_human"))
    assert [e["event"] for e in events] == ["slot"]
    assert "ngoài giờ" in texts(messages) and "Thứ Hai – Thứ Sáu, 07:30–17:00" in texts(messages)


@pytest.mark.parametrize(
    "env", [{"HANDOFF_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, {"HANDOFF_HOURS": "whenever"}]
)
def test_a_broken_store_or_setting_still_gives_the_hotline(db, monkeypatch, env):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    messages, events = run(ActionRequestHuman(), tracker("cho tôi gặp nhân viên", "request_human"))
    assert [e["event"] for e in events] == ["slot"]
    assert "9999" in texts(messages) and "đừng gửi mật khẩu" in texts(messages).lower()
    assert dvc(messages)["decision"] == "handoff"


def test_urgent_words_come_first(db):
    agent_online(db)
    messages, _ = run(ActionRequestHuman(), tracker("nhà tôi đang cháy, cho gặp người", "request_human"))
    assert messages[0]["text"].startswith("⚠️") and "114" in messages[0]["text"]


def test_policy_route_offer_then_accepting_hands_off_with_that_reason(db):
    agent_online(db)
    route = [
        {"event": "user", "text": "tôi muốn khiếu nại cán bộ", "parse_data": {"intent": {"name": "ask_procedure"}}},
        {
            "event": "bot",
            "text": None,
            "data": {
                "custom": {
                    "dvc": {
                        "decision": "abstain",
                        "route": "handoff:handoff_complaint",
                        "guide_ids": [],
                        "ranking": [{"id": "handoff_complaint", "score": 0.8}],
                    }
                }
            },
        },
    ]
    offer, events = run(ActionOfferHandoff(), tracker("tôi muốn khiếu nại cán bộ", "ask_procedure", route))
    assert OFFER_QUESTION in texts(offer)
    assert [b["payload"] for b in offer[0]["buttons"]] == ["/affirm", "/deny"]
    assert dvc(offer) == {"decision": "offer_handoff", "guide_ids": [], "reason": "policy:handoff_complaint"}
    assert events[0]["name"] == "abstain_count" and events[0]["value"] == 0

    history = route + [
        {"event": "bot", "text": offer[0]["text"]},
        {"event": "bot", "text": None, "data": {"custom": offer[1]["custom"]}},
    ]
    messages, events = run(ActionRequestHuman(), tracker("có", "affirm", history))
    assert events[-1]["event"] == "pause"
    assert dvc(messages)["reason"] == "policy:handoff_complaint"
    assert db.list_handoffs()[0]["reason"] == "policy:handoff_complaint"


def test_repeated_abstain_offer_says_what_was_understood(db):
    offer, _ = run(
        ActionOfferHandoff(), tracker("thủ tục chuyển nhượng gì đó mật khẩu là abc123", "nlu_fallback", HISTORY)
    )
    text = texts(offer)
    assert "Tôi hiểu bạn đang hỏi: «thủ tục chuyển nhượng" in text and OFFER_QUESTION in text
    assert "abc123" not in text
    assert dvc(offer)["reason"] == "repeated_abstain"


# ------------------------------------------------------------------ call back

DOMAIN = {
    "forms": {"callback_form": {"required_slots": ["callback_name", "callback_phone", "callback_consent"]}},
    "slots": {name: {} for name in ("callback_name", "callback_phone", "callback_consent", "callback_cancelled")},
}


def validate(text: str, slot: str, slots: dict | None = None) -> tuple[list[dict], dict[str, Any]]:
    t = tracker(
        text,
        "nlu_fallback",
        slots={**(slots or {}), slot: text},
        requested_slot=slot,
        after=[{"event": "slot", "name": slot, "value": text}],
    )
    messages, events = run(ValidateCallbackForm(), t, DOMAIN)
    return messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def test_callback_form_validation():
    assert validate("Nguyễn Văn An", "callback_name")[1]["callback_name"] == "Nguyễn Văn An"
    messages, slots = validate("0912345678", "callback_name")
    assert slots["callback_name"] is None and "Họ tên" in texts(messages)
    assert validate("+84 912 345 678", "callback_phone")[1]["callback_phone"] == "0912345678"
    assert validate("12345", "callback_phone")[1]["callback_phone"] is None
    assert validate("Đồng ý", "callback_consent")[1]["callback_consent"] == "đồng ý"
    assert validate("dong y", "callback_consent")[1]["callback_consent"] == "đồng ý"
    assert validate("không đồng ý", "callback_consent")[1]["callback_cancelled"] is True
    messages, slots = validate("ờ", "callback_consent")
    assert slots["callback_consent"] is None and "đồng ý" in texts(messages)
    _, slots = validate("thôi", "callback_phone")
    assert slots["callback_cancelled"] is True and slots["requested_slot"] is None  # the form ends


def test_callback_is_stored_only_with_consent(db):
    filled = {"callback_name": "Nguyễn Văn An", "callback_phone": "0912345678", "callback_consent": "đồng ý"}
    messages, events = run(ActionSubmitCallback(), tracker("đồng ý", "affirm", slots=filled))
    assert "*******678" in texts(messages) and "0912345678" not in texts(messages)
    [cb] = db.list_callbacks()
    assert (cb["name"], cb["phone"], cb["consent"], cb["channel"]) == (
        "Nguyễn Văn An",
        "0912345678",
        "đồng ý",
        "webchat",
    )
    assert {e["name"]: e["value"] for e in events} == {
        "callback_name": None,
        "callback_phone": None,
        "callback_consent": None,
        "callback_cancelled": None,
    }

    messages, _ = run(
        ActionSubmitCallback(),
        tracker(
            "không", "deny", sender="other", slots={**filled, "callback_consent": None, "callback_cancelled": True}
        ),
    )
    assert "không lưu" in texts(messages)
    assert len(db.list_callbacks()) == 1


def test_not_helpful_then_asking_again_offer_names_the_guide(db):
    messages, events = run(
        ActionOfferHandoff(),
        tracker("vẫn không lấy lại được mật khẩu", "ask_procedure", slots={"unhelpful_topic": "vneid_forgot_password"}),
    )
    assert OFFER_QUESTION in texts(messages) and "vừa rồi chưa giúp được bạn" in texts(messages)
    assert dvc(messages)["reason"] == "not_helpful"
    assert {"event": "slot", "name": "unhelpful_topic", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]
