"""Answer a citizen's question from the guides, ask which guide they mean, or abstain."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from bot.settings import load_settings
from handoff.safety import urgent_messages
from handoff.privacy import REDACTED
from handoff.triggers import OFFER_ACTION, after_unhelpful, should_offer_handoff
from insights import recording
from retrieval.search import Decision
from retrieval.service import get_service

log = logging.getLogger(__name__)

# Intents whose message may still be a procedure question the NLU misread. For these the action
# searches too, but answers only when the guide is clearly right (extra margin on the threshold).
DOUBTFUL_INTENTS = {"out_of_scope"}
# How much stronger than the normal answer threshold a doubtful-intent match must be.
DOUBTFUL_EXTRA = 0.08


def _send(dispatcher: CollectingDispatcher, messages: list[dict]) -> None:
    for message in messages:
        if "custom" in message:
            dispatcher.utter_message(json_message=message["custom"])
        else:
            dispatcher.utter_message(text=message["text"], buttons=message.get("buttons", []))


def _user_question(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _record(tracker: Tracker, messages: list[dict], question: str | None, outcome: str | None = None,
            guesses: list[dict] | None = None) -> None:
    """One interaction row per ``{"dvc": ...}`` decision in ``messages`` (insights/recording.py).

    Queued for a background thread: it never slows or breaks the reply.
    """
    try:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        channel = tracker.get_latest_input_channel()
        for message in messages:
            meta = (message.get("custom") or {}).get("dvc")
            if isinstance(meta, dict):
                recording.record_decision(meta, sender_id=tracker.sender_id, channel=channel, question=question,
                                          intent=intent, outcome=outcome, guesses=guesses)
    except Exception:  # noqa: BLE001 - a reply never fails because of the report
        log.exception("could not record the decision for %s", tracker.sender_id)


def _send_recorded(dispatcher: CollectingDispatcher, tracker: Tracker, messages: list[dict], question: str | None,
                   outcome: str | None = None, guesses: list[dict] | None = None) -> None:
    """Send ``messages`` and record the decision they carry."""
    _send(dispatcher, messages)
    _record(tracker, messages, question, outcome, guesses)


def _abstained(tracker: Tracker, decision: Decision | None) -> list[EventType]:
    """Count the abstention; on the second in a row, or a "handoff" routing entry, offer a person."""
    count = (tracker.get_slot("abstain_count") or 0) + 1
    events: list[EventType] = [SlotSet("abstain_count", count)]
    if should_offer_handoff(decision.as_metadata() if decision else None, count):
        events.append(FollowupAction(OFFER_ACTION))
    return events


class ActionAnswerQuestion(Action):
    """Search the guides for the latest message and answer, clarify or abstain."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        question = _user_question(tracker)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        _send(dispatcher, urgent_messages(question))  # 113 / 114 / 115 first; the question is still answered
        if REDACTED in question:  # the channel hid a password / OTP the citizen typed
            _send(dispatcher, [{"text": replies.SECRET_HIDDEN}])
        try:
            searcher = get_service().searcher()
            decision = searcher.decide(question, context_topic=tracker.get_slot("last_topic"))
        except Exception:  # noqa: BLE001 - no index / broken index: never guess, offer a person
            log.exception("search failed for %r", question)
            _send_recorded(dispatcher, tracker, replies.abstain_messages(settings.hotline, None,
                                                                         reason="search_unavailable"), question)
            return _abstained(tracker, None)
        if intent in DOUBTFUL_INTENTS:
            strong = decision.action == "answer" and decision.top.score >= searcher.thresholds.answer + DOUBTFUL_EXTRA
            if not strong:
                _send_recorded(dispatcher, tracker, replies.out_of_scope_messages(settings.hotline, decision),
                               question)
                return []
        return self._respond(dispatcher, tracker, searcher, decision, question)

    @staticmethod
    def _respond(dispatcher, tracker, searcher, decision: Decision, question: str) -> list[EventType]:
        settings = load_settings()
        guides = searcher.index.guides
        if after_unhelpful(tracker.get_slot("unhelpful_topic"),
                           {"decision": decision.action, "guide_ids": decision.guide_ids}):
            # asked again after "not helpful", and nothing better than before: offer a person
            return [SlotSet("last_question", question), FollowupAction(OFFER_ACTION)]
        if decision.action == "answer":
            guide = guides[decision.guide_ids[0]]
            section = searcher.best_section(decision, guide.id)
            _send_recorded(dispatcher, tracker, replies.answer_messages(guide, section, settings.hotline, decision),
                           question)
            return [SlotSet("last_topic", guide.id), SlotSet("last_question", question), SlotSet("abstain_count", 0),
                    SlotSet("unhelpful_topic", None)]
        if decision.action == "clarify":
            _send_recorded(dispatcher, tracker,
                           replies.clarify_messages([guides[g] for g in decision.guide_ids], decision), question)
            return [SlotSet("last_question", question)]
        route = decision.route
        title = guides[route.guide_id].title if route else ""
        _send_recorded(dispatcher, tracker, replies.abstain_messages(settings.hotline, decision, route_title=title),
                       question)
        return _abstained(tracker, decision)


class ActionAnswerChosenTopic(Action):
    """The citizen tapped one of the clarification buttons: answer from that guide."""

    def name(self) -> str:
        return "action_answer_chosen_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        topic = next(tracker.get_latest_entity_values("topic_id"), None)
        asked = tracker.get_slot("last_question")  # the question the clarification was about
        try:
            searcher = get_service().searcher()
        except Exception:  # noqa: BLE001
            log.exception("search unavailable")
            _send_recorded(dispatcher, tracker,
                           replies.abstain_messages(settings.hotline, None, reason="search_unavailable"), asked)
            return []
        guide = searcher.index.guides.get(topic or "")
        if guide is None or guide.kind != "guide":  # routing entries are never answered from
            _send_recorded(dispatcher, tracker,
                           replies.abstain_messages(settings.hotline, None, reason="unknown_topic"), asked)
            return []
        question = asked or guide.title
        decision = searcher.decide(question)
        section = searcher.best_section(decision, guide.id)
        _send_recorded(dispatcher, tracker, replies.answer_messages(guide, section, settings.hotline, decision),
                       asked, outcome="chosen")
        return [SlotSet("last_topic", guide.id), SlotSet("abstain_count", 0)]
