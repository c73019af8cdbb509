"""Feedback on answers and the request for a person (the queue itself is the handoff issue)."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.answer import _send
from bot.settings import load_settings

log = logging.getLogger(__name__)


class ActionRecordFeedback(Action):
    """Thank the citizen for the "helpful?" answer; after a "no", offer a person."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        topic = next(tracker.get_latest_entity_values("topic_id"), None) or tracker.get_slot("last_topic")
        helpful = intent == "feedback_helpful"
        log.info("feedback sender=%s topic=%s helpful=%s", tracker.sender_id, topic, helpful)
        meta = {"decision": "feedback", "guide_ids": [topic] if topic else [], "helpful": helpful}
        if helpful:
            dispatcher.utter_message(text="Cảm ơn bạn đã phản hồi! Bạn còn cần hỏi gì thêm không?")
        else:
            dispatcher.utter_message(
                text="Xin lỗi vì câu trả lời chưa giúp được bạn. Bạn có thể hỏi lại cụ thể hơn, "
                     "hoặc để tôi chuyển bạn đến tổng đài viên.",
                buttons=[{"title": "Gặp tổng đài viên", "payload": replies.payload("request_human")}])
        dispatcher.utter_message(json_message={"dvc": meta})
        return [SlotSet("last_topic", topic)] if topic else []


class ActionRequestHuman(Action):
    """The citizen asked for a person: tell them how, and mark the handoff for the console."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        _send(dispatcher, replies.handoff_messages(settings.hotline, reason="citizen_request"))
        return [SlotSet("abstain_count", 0)]
