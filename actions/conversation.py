"""Feedback on answers, the handoff to a hotline agent, and the call-back request.

The handoff itself (record, queue, agent console) lives in the ``handoff`` package; these actions
only read the tracker, call it, and say what happened.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.context import DialogueState, state_events
from actions.messaging import record, send, send_recorded
from core.decision import DecisionPayload
from core.settings import load_settings
from core.privacy import normalize_phone
from core.safety import urgent_messages
from handoff.transcript import latest_decision, understanding
from insights import recording

log = logging.getLogger(__name__)

CALLBACK_SLOTS = ("callback_name", "callback_phone", "callback_consent", "callback_cancelled")


def _send_feedback_reply(dispatcher: CollectingDispatcher, tracker: Tracker, meta: dict, thanks: str) -> None:
    """The reply to "helpful?" (buttons or typed), its decision payload, and its report row."""
    if meta["helpful"]:
        dispatcher.utter_message(text=thanks + replies.ANYTHING_ELSE)
    else:
        dispatcher.utter_message(
            text=replies.NOT_HELPFUL_SORRY,
            buttons=[{"title": replies.MEET_AGENT, "payload": replies.payload("request_human")}],
        )
    message = DecisionPayload.from_dict(meta).message()
    dispatcher.utter_message(json_message=message["custom"])
    record(tracker, [message], tracker.get_slot("last_question"))  # the question answered


class ActionRecordFeedback(Action):
    """Thank the citizen for the "helpful?" answer; after a "no", offer a person."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        topic = next(tracker.get_latest_entity_values("topic_id"), None) or tracker.get_slot("last_topic")
        helpful = intent == "feedback_helpful"
        log.info("feedback sender=%s topic=%s helpful=%s", tracker.sender_id, topic, helpful)
        meta = {"decision": "feedback", "guide_ids": [topic] if topic else [], "helpful": helpful}
        _send_feedback_reply(dispatcher, tracker, meta, replies.FEEDBACK_THANKS)
        # after "not helpful", asking again gets a person offered unless another guide fits (actions/answer.py)
        if not topic:
            return [] if helpful else state_events(pending="offer_human")
        return [
            SlotSet("unhelpful_topic", None if helpful else topic),
            SlotSet("last_topic", topic),
            *state_events(pending=None if helpful else "offer_human", offer_reason=None if helpful else "not_helpful"),
        ]


def _latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _guide_title(guide_id: str) -> str | None:
    """The title of a guide or routing entry from the served index (None when there is none)."""
    try:
        from retrieval.service import get_service

        guide = get_service().searcher().index.guides.get(guide_id)
        return guide.title if guide is not None else None
    except Exception:  # noqa: BLE001 - a title is a nicety; no index is fine here
        return None


def _latest_ranking(events: list[dict]) -> list[dict]:
    """Top guides of the latest decision that had a search ranking (the bot's best guesses)."""
    for event in reversed(events):
        dvc = latest_decision([event]) if event.get("event") == "bot" else None
        if dvc and dvc.get("ranking"):
            return recording.ranking(dvc)
    return []


def _handoff_question(tracker: Tracker) -> str:
    """What the citizen needed: their last question to the bot, else what they wrote when asking for a person."""
    try:
        asked = understanding(list(tracker.events)).get("question")
    except Exception:  # noqa: BLE001 - a nicety for the report
        asked = None
    text = _latest_text(tracker)
    return asked or ("" if text.startswith("/") else text)


def _handoff_reason(tracker: Tracker) -> str:
    """Why the conversation goes to a person: asked outright, or accepted the bot's offer."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if intent == "request_human":
        return "citizen_request"
    offer = latest_decision(tracker.events) or {}
    if offer.get("decision") == "offer_handoff" and offer.get("reason"):
        return str(offer["reason"])
    if tracker.get_slot("pending") == "offer_human" and tracker.get_slot("offer_reason"):
        return str(tracker.get_slot("offer_reason"))
    return "citizen_request"


class ActionRequestHuman(Action):
    """Hand the conversation to a person.

    Working hours and an agent online: record it, queue it, tell the citizen their place and pause
    the bot (Rasa keeps recording messages; the agent console reads them). Otherwise: the hotline
    number and hours, and the offer of a call back. The store failing never loses the citizen:
    they still get the hotline number.
    """

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from handoff import intake
        from handoff.config import load_config
        from handoff.store import get_store

        settings = load_settings()
        send(dispatcher, urgent_messages(_latest_text(tracker)))
        reason = _handoff_reason(tracker)
        try:
            config = load_config()
            store = get_store(config.database_url)
            outcome = await asyncio.to_thread(
                intake.open_handoff,
                store,
                config,
                sender_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel(),
                events=list(tracker.events),
                latest_message=tracker.latest_message,
                slots=dict(tracker.slots),
                reason=reason,
                titles=_guide_title,
            )
        except Exception:  # no database, bad HANDOFF_HOURS...: the hotline still works
            log.exception("handoff for %s could not be recorded", tracker.sender_id)
            send_recorded(
                dispatcher,
                tracker,
                replies.unavailable_messages(settings.hotline, reason),
                _handoff_question(tracker),
                outcome="unavailable",
                guesses=_latest_ranking(tracker.events),
            )
            return [SlotSet("abstain_count", 0)]
        if outcome.status in ("queued", "claimed"):
            send_recorded(
                dispatcher,
                tracker,
                replies.queued_messages(settings.hotline, outcome.position, reason, outcome.handoff["id"]),
                _handoff_question(tracker),
                outcome=outcome.status,
                guesses=_latest_ranking(tracker.events),
            )
            return [SlotSet("abstain_count", 0), SlotSet("unhelpful_topic", None), ConversationPaused()]
        send_recorded(
            dispatcher,
            tracker,
            replies.offline_messages(settings.hotline, config.schedule, outcome.why, reason, callback=True),
            _handoff_question(tracker),
            outcome=f"offline:{outcome.why}",
            guesses=_latest_ranking(tracker.events),
        )
        return [SlotSet("abstain_count", 0)]


class ActionOfferHandoff(Action):
    """After two abstentions in a row, or a question that policy sends to a person: say in one
    short turn what the bot understood and ask whether to transfer (affirm / deny, see
    data/rules/handoff.yml). Run as a follow-up of action_answer_question."""

    def name(self) -> str:
        return "action_offer_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        decision = latest_decision(tracker.events) or {}
        situation = decision.get("situation") if decision.get("decision") == "advice" else None
        if situation:  # advice for a policy situation was just given (actions/answer.py): now the offer
            reason = tracker.get_slot("offer_reason") or f"policy:{situation}"
            send_recorded(
                dispatcher,
                tracker,
                replies.situation_offer_messages(situation, reason),
                tracker.get_slot("last_question"),
            )
            return [
                SlotSet("abstain_count", 0),
                SlotSet("unhelpful_topic", None),
                *state_events(pending="offer_human", offer_reason=reason, choices=None),
            ]
        route = decision.get("route") or ""
        kind, _, route_id = route.partition(":") if route else ("", "", "")
        unhelpful = tracker.get_slot("unhelpful_topic")
        reason = (
            f"policy:{route_id}"
            if kind == "handoff" and route_id
            else ("not_helpful" if unhelpful else "repeated_abstain")
        )
        ranking = [r for r in decision.get("ranking") or [] if isinstance(r, dict)]
        top_title = _guide_title(ranking[0]["id"]) if ranking and kind != "handoff" and ranking[0].get("id") else None
        question = _latest_text(tracker)
        if question.startswith("/"):
            question = tracker.get_slot("last_question") or ""
        from core.privacy import redact_secrets

        send_recorded(
            dispatcher,
            tracker,
            replies.offer_messages(
                redact_secrets(question) or None,
                _guide_title(route_id) if kind == "handoff" else None,
                kind or None,
                reason,
                top_title,
                unhelpful_title=(_guide_title(unhelpful) or "") if unhelpful else None,
            ),
            question,
            guesses=recording.ranking(decision),
        )
        return [
            SlotSet("abstain_count", 0),
            SlotSet("unhelpful_topic", None),
            *state_events(pending="offer_human", offer_reason=reason, choices=None),
        ]


class ActionReplyInContext(Action):
    """A yes / no (affirm / deny, "ok", "không cần") read against what the bot last asked.

    Rasa's rules handle the cases where the previous action says it all (after action_offer_handoff,
    after action_request_human's call-back offer: data/rules/handoff.yml); everything else comes
    here and is read against the ``pending`` slot (actions/context.py):

    * ``offer_human`` (an offer or an abstention with the "Gặp tổng đài viên" button): yes hands
      off, no is acknowledged;
    * ``helpful`` (the "helpful?" buttons after an answer): yes / no is the feedback;
    * ``choices`` ("which one?"): a bare yes asks to pick one; no offers a person;
    * ``safety`` (after an emergency pointer): acknowledged, never searched;
    * nothing pending: a short acknowledgement.
    """

    def name(self) -> str:
        return "action_reply_in_context"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        yes = intent in ("affirm", "feedback_helpful")
        state = DialogueState.from_tracker(tracker)
        context = {"context": state.metadata(), "resolved_from": f"reply:{state.pending or 'none'}"}
        if state.pending == "offer_human":
            if yes:
                return [FollowupAction("action_request_human")]
            dispatcher.utter_message(text=replies.DECLINED_TEXT)
            return state_events(pending=None, offer_reason=None)
        if state.pending == "helpful" and state.topic:
            helpful = yes
            meta = {"decision": "feedback", "guide_ids": [state.topic], "helpful": helpful, **context}
            _send_feedback_reply(dispatcher, tracker, meta, replies.THANKS)
            return [
                SlotSet("unhelpful_topic", None if helpful else state.topic),
                *state_events(
                    pending=None if helpful else "offer_human", offer_reason=None if helpful else "not_helpful"
                ),
            ]
        if state.pending == "choices" and state.choices:
            if yes:
                buttons = [
                    {"title": _guide_title(g) or g, "payload": replies.payload("choose_topic", topic_id=g)}
                    for g in state.choices
                ]
                buttons.append({"title": replies.NONE_OF_THESE, "payload": replies.payload("request_human")})
                dispatcher.utter_message(
                    text=replies.CHOOSE_ONE,
                    buttons=buttons,
                )
                return []
            dispatcher.utter_message(
                text=replies.DESCRIBE_MORE,
                buttons=[{"title": replies.MEET_AGENT, "payload": replies.payload("request_human")}],
            )
            return state_events(pending="offer_human", choices=None, offer_reason="clarify_declined")
        if state.pending == "safety":
            dispatcher.utter_message(text=replies.SAFETY_ACK.get(state.safety or "", replies.SAFETY_ACK_DEFAULT))
            return state_events(pending=None, safety=None)
        dispatcher.utter_message(response="utter_affirm_ack" if yes else "utter_deny_ack")
        return []


# ---------------------------------------------------------------------------------------- call back


def _plain(text: str) -> str:
    text = unicodedata.normalize("NFC", text or "").lower().strip()
    return re.sub(r"[.!?…\s]+$", "", text)


CANCEL_WORDS = {
    "thôi",
    "thoi",
    "hủy",
    "huỷ",
    "huy",
    "không",
    "khong",
    "ko",
    "k",
    "không cần",
    "khong can",
    "thôi khỏi",
    "khỏi",
    "bỏ qua",
    "cancel",
    "/deny",
}
CONSENT_YES = re.compile(r"(?<![\w])(đồng\s*ý|dong\s*y|đồng\s*í)(?![\w])")
CONSENT_NO = re.compile(r"(?<![\w])(không|khong|ko|hủy|huỷ|huy|thôi|thoi|từ\s*chối|tu\s*choi)(?![\w])")
NAME = re.compile(r"^[^\W\d_]+(?:[ .'-][^\W\d_]+)*$")


class ValidateCallbackForm(FormValidationAction):
    """Name, phone and explicit consent ("đồng ý") for a call back; «thôi» cancels at any step."""

    def name(self) -> str:
        return "validate_callback_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        return [] if tracker.get_slot("callback_cancelled") else domain_slots

    @staticmethod
    def _cancelled(value: Any) -> bool:
        return _plain(str(value or "")) in CANCEL_WORDS

    async def validate_callback_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if self._cancelled(value):
            return {"callback_name": None, "callback_cancelled": True}
        name = " ".join(str(value or "").split())
        if 2 <= len(name) <= 60 and NAME.match(name):
            return {"callback_name": name}
        dispatcher.utter_message(text=replies.CALLBACK_BAD_NAME)
        return {"callback_name": None}

    async def validate_callback_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if self._cancelled(value):
            return {"callback_phone": None, "callback_cancelled": True}
        phone = normalize_phone(str(value or ""))
        if phone:
            return {"callback_phone": phone}
        dispatcher.utter_message(text=replies.CALLBACK_BAD_PHONE)
        return {"callback_phone": None}

    async def validate_callback_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _plain(str(value or ""))
        if CONSENT_YES.search(text) and not re.search(r"(không|khong|chưa|chua)\s*(đồng|dong)", text):
            return {"callback_consent": "đồng ý"}
        if CONSENT_NO.search(text) or self._cancelled(value):
            return {"callback_consent": None, "callback_cancelled": True}
        dispatcher.utter_message(text=replies.CALLBACK_BAD_CONSENT)
        return {"callback_consent": None}


class ActionSubmitCallback(Action):
    """Store the call-back request (only with consent), then forget the slots."""

    def name(self) -> str:
        return "action_submit_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        reset = [SlotSet(name, None) for name in CALLBACK_SLOTS]
        name, phone = tracker.get_slot("callback_name"), tracker.get_slot("callback_phone")
        consent = tracker.get_slot("callback_consent")
        if tracker.get_slot("callback_cancelled") or consent != "đồng ý" or not name or not phone:
            dispatcher.utter_message(text=replies.CALLBACK_CANCELLED)
            return reset
        from handoff.config import load_config
        from handoff.store import get_store

        try:
            store = get_store(load_config().database_url)
            latest = await asyncio.to_thread(store.latest_handoff, tracker.sender_id)
            await asyncio.to_thread(
                store.add_callback,
                tracker.sender_id,
                tracker.get_latest_input_channel(),
                name,
                phone,
                consent,
                latest["id"] if latest else None,
            )
        except Exception:  # tell the citizen the hotline instead
            log.exception("call-back request of %s could not be stored", tracker.sender_id)
            hotline = settings.hotline
            dispatcher.utter_message(text=replies.CALLBACK_FAILED.format(contact=hotline.contact))
            return reset
        dispatcher.utter_message(text=replies.callback_saved(settings.hotline, phone))
        return reset
