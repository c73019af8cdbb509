"""Answer a citizen's message from the guides, reading it against the conversation so far.

The order matters (each step only runs when the previous ones did not settle the message):

1. danger (dialogue/situations.py + core/safety.py): the emergency numbers first, what to do now;
2. after a danger message, "help is on the way" / "I won't transfer" is acknowledged, not searched;
3. policy situations (stolen phone, money lost, wrong personal data, complaint, a dossier
   problem): the advice first, then the offer of a person;
4. choices on offer ("which one?"): the reply is matched against the offered guides first;
5. a follow-up with no topic of its own ("hết bao nhiêu tiền") is answered from the current
   topic's guide, from the section that fits the facet;
6. a fresh search; when the question fits two guides that lead to different actions
   (dialogue/confusables.yml) and names neither, ask.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.answer_rules import (
    DOUBTFUL_EXTRA,
    DOUBTFUL_INTENTS,
    POLICY_ROUTE,
    ROUTE_SLACK,
    is_dossier_problem,
    is_secret_question,
)
from actions.answer_steps import Turn, send_answer
from actions.context import DialogueState, annotate, state_events
from actions.messaging import send as _send
from actions.messaging import send_recorded as _send_recorded
from actions.models import situation_model
from core.settings import load_settings
from dialogue import choices as ch
from dialogue.danger import SERVICES as LEARNED_SERVICES
from dialogue.situations import safety_settled
from core.privacy import REDACTED
from core.safety import POLICE, danger_text, urgent_services
from handoff.triggers import OFFER_ACTION, after_unhelpful, should_offer_handoff
from retrieval.decision import Decision
from retrieval.service import get_service

log = logging.getLogger(__name__)


def _user_question(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def _abstained(tracker: Tracker, decision: Decision | None) -> list[EventType]:
    """Count the abstention; on the second in a row, or a "handoff" routing entry, offer a person."""
    count = (tracker.get_slot("abstain_count") or 0) + 1
    events: list[EventType] = [SlotSet("abstain_count", count)]
    if should_offer_handoff(decision.as_metadata() if decision else None, count):
        route = decision.route if decision else None
        reason = f"policy:{route.guide_id}" if route and route.kind == "handoff" else "repeated_abstain"
        events += state_events(offer_reason=reason)
        events.append(FollowupAction(OFFER_ACTION))
    return events


def _plain(text: str) -> str:
    return ch.plain(text)


class ActionAnswerQuestion(Action):
    """Read the latest message against the dialogue state and answer, ask, warn or offer a person."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        question = _user_question(tracker)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        state = DialogueState.from_tracker(tracker)
        if REDACTED in question:  # the channel hid a password / OTP the citizen typed
            hidden = [{"text": replies.SECRET_HIDDEN}]
        else:
            hidden = []
        try:
            searcher = get_service().searcher()
        except Exception:  # no index / broken index: never guess, offer a person
            log.exception("search failed for %r", question)
            services = urgent_services(question)
            if services:
                _send(dispatcher, [{"text": danger_text(None, services)}])
            _send(dispatcher, hidden)
            _send_recorded(
                dispatcher,
                tracker,
                replies.abstain_messages(settings.hotline, None, reason="search_unavailable"),
                question,
            )
            return _abstained(tracker, None)
        turn = Turn(self, dispatcher, tracker, searcher, state, question, settings)
        if (state.pending == "safety" or state.safety) and safety_settled(question):
            settled = turn.safety_followup()
            if settled is not None:
                return settled
        situation = situation_model().recognize(question)
        services = urgent_services(question)
        learned = bool(situation and situation.via == "classifier")
        read_on = learned and not services and state.pending != "safety"
        decided = None  # the search's decision when this check needed it, passed on (not made twice)
        if read_on and not (state.topic or state.choices or is_secret_question(_plain(question))):
            decided = searcher.decide(question)  # no topic here
            read_on = decided.action == "answer"
        if read_on:
            # Flagged by the learned model, but a question a guide answers, inside a conversation about a
            # procedure ("thế còn làm cho thằng con 7 tuổi thì sao"), or about who may ask for a code
            # ("nhân viên có hỏi mã otp không"): the emergency pointer first, then the message is read as
            # usual, and "help is on the way" next is still acknowledged (safety_concern).
            name = situation.name
            _send(dispatcher, [{"text": danger_text(name, list(LEARNED_SERVICES.get(name, [POLICE])))}])
            state.safety = name
            return [
                *await self._read(dispatcher, tracker, turn, state, question, intent, hidden, None, decided),
                SlotSet("safety_concern", name),
            ]
        if (situation and situation.kind == "danger") or services:
            return turn.danger(
                situation.name if situation and situation.kind == "danger" else None,
                services,
                hidden,
                learned=learned,
                decision=decided,
            )
        return await self._read(dispatcher, tracker, turn, state, question, intent, hidden, situation)

    async def _read(
        self,
        dispatcher,
        tracker,
        turn,
        state: DialogueState,
        question: str,
        intent: str | None,
        hidden: list[dict],
        situation,
        decided: Decision | None = None,
    ) -> list[EventType]:
        """Everything after the danger check: policy, choices, follow-ups, a fresh search."""
        searcher, settings = turn.searcher, turn.settings
        _send(dispatcher, hidden)
        if state.pending == "safety" and not situation:
            settled = turn.safety_followup()
            if settled is not None:
                return settled
        if situation:
            return turn.policy(situation.name, situation.via)
        if intent != "out_of_scope" and is_dossier_problem(question):
            return turn.policy("dossier", "pattern")
        if state.choices:
            chosen = turn.typed_choice()
            if chosen is not None:
                return chosen
        decision = decided or searcher.decide(question, context_topic=state.topic)
        if after_unhelpful(
            tracker.get_slot("unhelpful_topic"), {"decision": decision.action, "guide_ids": decision.guide_ids}
        ):
            # asked again after "not helpful", and nothing better than before: offer a person
            return [
                SlotSet("last_question", question),
                *state_events(offer_reason="not_helpful"),
                FollowupAction(OFFER_ACTION),
            ]
        route = decision.route
        by_route = {entry: name for name, entry in POLICY_ROUTE.items()}
        if route is not None and route.guide_id in by_route and route.score >= searcher.thresholds.answer - ROUTE_SLACK:
            # the search stopped on a handoff entry a policy situation stands for ("ngày sinh trên app bị
            # đảo ngày với tháng"): its advice first (the police correct personal data), then the offer
            return turn.policy(by_route[route.guide_id], "route")
        if state.topic:
            follow = turn.follow_up(decision)
            if follow is not None:
                return follow
        if intent in DOUBTFUL_INTENTS:
            strong = decision.action == "answer" and decision.top.score >= searcher.thresholds.answer + DOUBTFUL_EXTRA
            if not strong:
                messages = annotate(replies.out_of_scope_messages(settings.hotline, decision), state, "search")
                _send_recorded(dispatcher, tracker, messages, question)
                return state_events(pending=None, choices=None)
        return turn.fresh(decision)

    @staticmethod
    def _respond(
        dispatcher,
        tracker,
        searcher,
        decision: Decision,
        question: str,
        state: DialogueState | None = None,
        resolved_from: str = "search",
    ) -> list[EventType]:
        settings = load_settings()
        state = state or DialogueState.from_tracker(tracker)
        guides = searcher.index.guides
        if after_unhelpful(
            tracker.get_slot("unhelpful_topic"), {"decision": decision.action, "guide_ids": decision.guide_ids}
        ):
            # asked again after "not helpful", and nothing better than before: offer a person
            return [
                SlotSet("last_question", question),
                *state_events(offer_reason="not_helpful"),
                FollowupAction(OFFER_ACTION),
            ]
        if decision.action == "answer":
            guide = guides[decision.guide_ids[0]]
            section = searcher.best_section(decision, guide.id)
            return send_answer(dispatcher, tracker, guide, section, decision, question, state, resolved_from)
        if decision.action == "clarify":
            offered = [guides[g] for g in decision.guide_ids]
            messages = annotate(replies.clarify_messages(offered, decision), state, resolved_from)
            _send_recorded(dispatcher, tracker, messages, question)
            return [
                SlotSet("last_question", question),
                *state_events(choices=[g.id for g in offered], pending="choices"),
            ]
        route = decision.route
        title = guides[route.guide_id].title if route else ""
        messages = annotate(
            replies.abstain_messages(settings.hotline, decision, route_title=title), state, resolved_from
        )
        _send_recorded(dispatcher, tracker, messages, question)
        return [*state_events(pending="offer_human", choices=None), *_abstained(tracker, decision)]


class ActionAnswerChosenTopic(Action):
    """The citizen tapped one of the clarification buttons: answer from that guide."""

    def name(self) -> str:
        return "action_answer_chosen_topic"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        settings = load_settings()
        topic = next(tracker.get_latest_entity_values("topic_id"), None)
        asked = tracker.get_slot("last_question")  # the question the clarification was about
        state = DialogueState.from_tracker(tracker)
        try:
            searcher = get_service().searcher()
        except Exception:
            log.exception("search unavailable")
            _send_recorded(
                dispatcher,
                tracker,
                replies.abstain_messages(settings.hotline, None, reason="search_unavailable"),
                asked,
            )
            return []
        guide = searcher.index.guides.get(topic or "")
        if guide is None or guide.kind != "guide":  # routing entries are never answered from
            _send_recorded(
                dispatcher, tracker, replies.abstain_messages(settings.hotline, None, reason="unknown_topic"), asked
            )
            return []
        question = asked or guide.title
        decision = searcher.decide(question)
        section = searcher.best_section(decision, guide.id)
        messages = annotate(
            replies.answer_messages(guide, section, settings.hotline, decision), state, "choice", chosen_by="button"
        )
        _send_recorded(dispatcher, tracker, messages, asked, outcome="chosen")
        return [
            SlotSet("abstain_count", 0),
            *state_events(topic=guide.id, section=section, choices=None, pending="helpful"),
        ]
