"""The actions record what they decide: one interaction row per {"dvc": ...} decision they send."""

from __future__ import annotations

import time

import pytest
from rasa_sdk import Tracker

from actions.answer import ActionAnswerChosenTopic, ActionAnswerQuestion
from actions.conversation import ActionOfferHandoff, ActionRecordFeedback, ActionRequestHuman
from handoff.store import Store
from insights import recording
from retrieval.decision import Thresholds
from tests.actions.action_kit import run_action, set_thresholds

FORGOT = "vneid_forgot_password"
EXACT_QUESTION = "Quên mật khẩu VNeID thì lấy lại thế nào?"
GIBBERISH = "asdkjh qwe zzxq"


def tracker(
    text: str,
    intent: str = "ask_procedure",
    slots: dict | None = None,
    history: list[dict] | None = None,
    entities: list[dict] | None = None,
    sender: str = "citizen-1",
    channel: str = "zalo",
) -> Tracker:
    now = time.time()
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.97}, "entities": entities or []}
    events = [{"timestamp": now - 50 + i, **e} for i, e in enumerate(history or [])]
    events.append({"event": "user", "text": text, "parse_data": latest, "input_channel": channel, "timestamp": now - 1})
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {"last_topic": None, "last_question": None, "abstain_count": 0, **(slots or {})},
            "latest_message": latest,
            "events": events,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_input_channel": channel,
        }
    )


def decisions(messages: list[dict]) -> list[dict]:
    return [m["custom"]["dvc"] for m in messages if isinstance(m.get("custom"), dict) and "dvc" in m["custom"]]


def recorded(db_url: str) -> list[dict]:
    assert recording.flush(10)
    store = Store(db_url)
    try:
        return store.interactions()
    finally:
        store.close()


def bot_event(meta: dict) -> dict:
    return {"event": "bot", "text": None, "data": {"custom": {"dvc": meta}}}


def test_answer_is_recorded_with_guide_guesses_channel_and_hashed_sender(index_dir, db_url):
    messages, _ = run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))
    [row] = recorded(db_url)
    meta = decisions(messages)[0]
    assert (row["kind"], row["guide_id"], row["question"], row["channel"], row["intent"]) == (
        "answered",
        FORGOT,
        EXACT_QUESTION,
        "zalo",
        "ask_procedure",
    )
    assert [g["id"] for g in row["guesses"]] == [r["id"] for r in meta["ranking"]]
    assert row["conversation"] != "citizen-1" and row["conversation"] == Store(db_url).conversation_key("citizen-1")


def test_abstain_then_offer_are_two_rows_with_the_bots_guesses(index_dir, db_url):
    messages, events = run_action(ActionAnswerQuestion(), tracker(GIBBERISH, slots={"abstain_count": 1}))
    assert any(e.get("name") == "action_offer_handoff" for e in events)  # the follow-up Rasa would run
    abstain = decisions(messages)[0]
    offer_messages, _ = run_action(ActionOfferHandoff(), tracker(GIBBERISH, history=[bot_event(abstain)]))
    abstained, offered = recorded(db_url)
    assert (abstained["kind"], abstained["reason"], abstained["question"]) == ("abstained", "low_confidence", GIBBERISH)
    assert (offered["kind"], offered["reason"], offered["question"]) == (
        "offered_handoff",
        "repeated_abstain",
        GIBBERISH,
    )
    assert offered["guesses"] == abstained["guesses"] != []
    assert decisions(offer_messages)[0]["decision"] == "offer_handoff"


def test_uncovered_procedure_is_an_abstention_with_its_route(index_dir, db_url):
    run_action(ActionAnswerQuestion(), tracker("thủ tục đăng ký kết hôn cần giấy tờ gì"))
    [row] = recorded(db_url)
    assert (row["kind"], row["reason"]) == ("abstained", "uncovered:uncovered_marriage")


def test_out_of_scope_is_its_own_kind(index_dir, db_url):
    run_action(ActionAnswerQuestion(), tracker("hôm nay trời đẹp quá", intent="out_of_scope"))
    [row] = recorded(db_url)
    assert (row["kind"], row["reason"], row["intent"]) == ("out_of_scope", "out_of_scope", "out_of_scope")


def test_clarification_then_the_chosen_guide(index_dir, db_url, monkeypatch):
    set_thresholds(monkeypatch, Thresholds(answer=0.3, margin=0.5, clarify_floor=0.3))
    messages, _ = run_action(ActionAnswerQuestion(), tracker("vneid"))
    assert decisions(messages)[0]["decision"] == "clarify"
    run_action(
        ActionAnswerChosenTopic(),
        tracker(
            '/choose_topic{"topic_id": "vneid_activate"}',
            intent="choose_topic",
            entities=[{"entity": "topic_id", "value": "vneid_activate"}],
            slots={"last_question": "vneid"},
        ),
    )
    clarified, chosen = recorded(db_url)
    assert (clarified["kind"], clarified["question"]) == ("clarified", "vneid")
    assert len(clarified["guesses"]) >= 2
    assert (chosen["kind"], chosen["outcome"], chosen["guide_id"], chosen["question"]) == (
        "answered",
        "chosen",
        "vneid_activate",
        "vneid",
    )


def test_search_unavailable_is_recorded(db_url):  # no index_dir: nothing published
    run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))
    [row] = recorded(db_url)
    assert (row["kind"], row["reason"], row["guesses"]) == ("abstained", "search_unavailable", [])


@pytest.mark.parametrize("intent, outcome", [("feedback_helpful", "helpful"), ("feedback_not_helpful", "not_helpful")])
def test_feedback_is_recorded_per_guide_with_the_question_it_was_about(db_url, intent, outcome):
    run_action(
        ActionRecordFeedback(),
        tracker(
            f'/{intent}{{"topic_id": "{FORGOT}"}}',
            intent=intent,
            entities=[{"entity": "topic_id", "value": FORGOT}],
            slots={"last_question": "quen mk vneid"},
        ),
    )
    [row] = recorded(db_url)
    assert (row["kind"], row["outcome"], row["guide_id"], row["question"]) == (
        "feedback",
        outcome,
        FORGOT,
        "quen mk vneid",
    )


def test_handoff_is_recorded_with_its_status_and_the_citizens_question(db_url, monkeypatch):
    monkeypatch.setenv("HANDOFF_HOURS", "24/7")  # open, but no agent online: offline
    ranking = [{"id": FORGOT, "score": 0.41}]
    history = [
        {
            "event": "user",
            "text": "đổi số điện thoại 0987654321 trên vneid",
            "parse_data": {"intent": {"name": "ask_procedure"}},
        },
        bot_event({"decision": "abstain", "reason": "low_confidence", "ranking": ranking}),
    ]
    messages, _ = run_action(
        ActionRequestHuman(), tracker("cho tôi gặp nhân viên", intent="request_human", history=history)
    )
    [row] = recorded(db_url)
    assert decisions(messages)[0]["decision"] == "handoff"
    assert (row["kind"], row["outcome"], row["reason"]) == ("handoff", "offline:no_agent", "citizen_request")
    assert row["question"] == "đổi số điện thoại *******321 trên vneid"
    assert row["guesses"] == [{"id": FORGOT, "score": 0.41}]


def test_handoff_with_the_store_down_is_still_recorded_as_unavailable(db_url, monkeypatch):
    monkeypatch.setenv("HANDOFF_HOURS", "not a schedule")  # the handoff fails, the database is fine
    run_action(ActionRequestHuman(), tracker("cho tôi gặp người thật", intent="request_human"))
    [row] = recorded(db_url)
    assert (row["kind"], row["outcome"], row["question"]) == ("handoff", "unavailable", "cho tôi gặp người thật")


def test_masked_before_it_is_written(index_dir, db_url):
    question = "cccd 079123456789 sđt 0912345678 mật khẩu là abc123 quên mật khẩu vneid"
    run_action(ActionAnswerQuestion(), tracker(question))
    [row] = recorded(db_url)
    for raw in ("079123456789", "0912345678", "abc123"):
        assert raw not in row["question"]


def test_switched_off_nothing_is_recorded(index_dir, db_url, monkeypatch):
    monkeypatch.setenv(recording.ENV_SWITCH, "0")
    run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))
    assert recorded(db_url) == []


def test_recording_failures_never_touch_the_reply(index_dir, db_url, monkeypatch):
    expected, _ = run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    assert [r["kind"] for r in recorded(db_url)] == ["answered"]
    monkeypatch.setattr(Store, "record_interaction", broken)  # fails in the background writer
    assert run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))[0] == expected
    monkeypatch.setattr(recording._writer, "put", broken)  # fails while queueing, in the action
    assert run_action(ActionAnswerQuestion(), tracker(EXACT_QUESTION))[0] == expected
    assert [r["kind"] for r in recorded(db_url)] == ["answered"]  # neither failure wrote (or raised) anything
