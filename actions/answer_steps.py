"""The steps of reading one message (actions/answer.py runs them in order): danger, after a danger message,
policy situations, a typed choice, a follow-up on the current topic, a fresh search; and `send_answer`, the
reply from one guide that every step ends in.
"""

from __future__ import annotations

from rasa_sdk.events import EventType, FollowupAction, SlotSet

from actions import replies
from actions.answer_rules import (
    guide_ranking,
    leans_on_topic,
    scores_of,
    shared_thing_choices,
    CHOICE_ESCAPE,
    CHOICE_LEAD,
    ENDS_WHAT_ABOUT,
    FACET_WORDS,
    FOLLOW_KEEP,
    FOLLOW_SHAPED,
    POLICY_GUIDE,
    POLICY_ROUTE,
    PRIVACY_GUIDES,
    SCAM_GUIDE,
    SECRET_SHARED,
    is_secret_question,
    mostly_in,
)
from actions.context import DialogueState, annotate, state_events
from actions.replies import FACET_NOTE, POLICY_ADVICE, SAFETY_ACK, SAFETY_ACK_DEFAULT, SECRET_ADVICE, SHARED_ADVICE
from actions.messaging import send as _send
from actions.messaging import send_recorded as _send_recorded
from core.decision import DecisionPayload, replace_in
from core.safety import POLICE, danger_text
from core.settings import load_settings
from dialogue import choices as ch
from dialogue import followup as fu
from dialogue.danger import SERVICES as LEARNED_SERVICES
from dialogue.situations import EMERGENCIES, safety_settled
from handoff.triggers import OFFER_ACTION
from retrieval.decision import Decision


def send_answer(
    dispatcher,
    tracker,
    guide,
    section: int,
    decision: Decision | None,
    question: str,
    state: DialogueState,
    resolved_from: str,
    lead: list[dict] | None = None,
    helpful: bool = True,
    **extra,
) -> list[EventType]:
    settings = load_settings()
    messages = replies.answer_messages(guide, section, settings.hotline, decision)
    if not helpful:
        messages = [m for m in messages if m.get("text") != replies.HELPFUL_QUESTION]
    annotate(messages, state, resolved_from, **extra)
    _send_recorded(dispatcher, tracker, (lead or []) + messages, question)
    return [
        SlotSet("last_question", question),
        SlotSet("abstain_count", 0),
        SlotSet("unhelpful_topic", None),
        *state_events(
            topic=guide.id, section=section, choices=None, pending="helpful" if helpful else None, safety=None
        ),
    ]


class Turn:
    """One message being read: the pieces of ActionAnswerQuestion that need the same context."""

    def __init__(self, action, dispatcher, tracker, searcher, state: DialogueState, question: str, settings):
        self.action = action
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.searcher = searcher
        self.state = state
        self.question = question
        self.settings = settings
        self.guides = searcher.index.guides

    def send_guide(self, guide_id: str, decision: Decision, resolved_from: str, **kwargs) -> list[EventType]:
        """:func:`send_answer` from the section of ``guide_id`` that fits ``decision`` best, in this turn."""
        section = self.searcher.best_section(decision, guide_id)
        return send_answer(
            self.dispatcher,
            self.tracker,
            self.guides[guide_id],
            section,
            decision,
            self.question,
            self.state,
            resolved_from,
            **kwargs,
        )

    # ---- 1. danger
    def danger(
        self,
        situation: str | None,
        services: list[str],
        hidden: list[dict],
        learned: bool = False,
        decision: Decision | None = None,
    ) -> list[EventType]:
        if situation in LEARNED_SERVICES and not services:
            services = list(LEARNED_SERVICES[situation])
        if situation and POLICE in services and situation not in EMERGENCIES:
            services = [POLICE] + [s for s in services if s != POLICE]
        elif situation and not services:
            services = [POLICE]
        first = {"text": danger_text(situation, services)}
        _send(self.dispatcher, [first] + hidden)
        safety = situation or "emergency"
        events = state_events(pending="safety", safety=safety, choices=None)
        decision = decision or self.searcher.decide(self.question)
        if situation in ("otp_now", "transfer_now") and SCAM_GUIDE in self.guides and not learned:
            return self.send_guide(
                SCAM_GUIDE,
                decision,
                f"situation:{situation}",
                helpful=False,
                situation=situation,
            ) + state_events(pending="safety", safety=safety)
        if decision.action == "answer" and (not situation or learned or situation in EMERGENCIES):
            # urgent words in a real question ("nhà đang cháy, quên mật khẩu VNeID"): still answered;
            # so is a question the learned model flagged (a false alarm then costs one message)
            return self.send_guide(decision.guide_ids[0], decision, "search", helpful=False) + state_events(
                pending="safety", safety=safety
            )
        meta = DecisionPayload(
            "emergency",
            [],
            {
                "situation": safety,
                "services": services,
                "context": self.state.metadata(),
                "resolved_from": f"situation:{safety}",
            },
        )
        _send(self.dispatcher, [meta.message()])
        return events

    # ---- 2. after a danger message
    def safety_followup(self) -> list[EventType] | None:
        decision = self.searcher.decide(self.question)
        if decision.action == "answer" and not safety_settled(self.question):
            return None  # a real question: answer it normally
        text = SAFETY_ACK.get(self.state.safety or "", SAFETY_ACK_DEFAULT)
        meta = DecisionPayload(
            "safety_followup",
            [],
            {"situation": self.state.safety, "context": self.state.metadata(), "resolved_from": "safety"},
        )
        _send(self.dispatcher, [{"text": text}, meta.message()])
        return state_events(pending=None, safety=None)

    # ---- 3. policy
    def policy(self, name: str, via: str) -> list[EventType]:
        lead = [{"text": POLICY_ADVICE[name]}]
        guide_id = POLICY_GUIDE.get(name)
        reason = f"policy:{POLICY_ROUTE.get(name, name)}"
        if guide_id in self.guides:
            decision = self.searcher.decide(self.question)
            offer = replies.human_offer()
            events = self.send_guide(
                guide_id,
                decision,
                f"situation:{name}",
                lead=lead,
                helpful=False,
                situation=name,
                situation_via=via,
                offer=reason,
            )
            _send(self.dispatcher, [offer])
            return events + state_events(pending="offer_human", offer_reason=reason)
        meta = DecisionPayload(
            "advice",
            [],
            {
                "situation": name,
                "situation_via": via,
                "context": self.state.metadata(),
                "resolved_from": f"situation:{name}",
            },
        )
        _send(self.dispatcher, lead + [meta.message()])
        return [
            SlotSet("last_question", self.question),
            *state_events(pending="offer_human", offer_reason=reason, choices=None),
            FollowupAction(OFFER_ACTION),
        ]

    # ---- 4. typed choice
    def typed_choice(self) -> list[EventType] | None:
        offered = [g for g in self.state.choices if g in self.guides]
        if len(offered) < 2:
            return None
        chosen, how = None, ""
        index = ch.ordinal_choice(self.question, len(offered))
        if index is not None:
            chosen, how = offered[index], "ordinal"
        if chosen is None:
            chosen, how = ch.cue_winner(self.question, offered), "cue"
        decision = self.searcher.decide(self.question)
        scores = scores_of(decision)
        if chosen is None:
            group = ch.group_for(offered)
            descriptions = {
                g: " ".join(
                    [self.guides[g].title, " ".join(self.guides[g].tags), group.labels.get(g, "") if group else ""]
                )
                for g in offered
            }
            overlap = ch.distinguishing_overlap(self.question, descriptions)
            ranked = sorted(overlap.items(), key=lambda kv: -kv[1])
            if ranked[0][1] > 0 and ranked[0][1] > ranked[1][1]:
                chosen, how = ranked[0][0], "words"
        best_offered = max(scores.get(g, 0.0) for g in offered)
        top = decision.top
        fresh = (
            decision.action == "answer"
            and top is not None
            and top.guide_id not in offered
            and top.score >= best_offered + CHOICE_ESCAPE
        )
        if chosen is None:
            if fresh:
                return None  # a new question, not an answer to "which one?"
            ranked = sorted(offered, key=lambda g: -scores.get(g, 0.0))
            if scores.get(ranked[0], 0.0) - scores.get(ranked[1], 0.0) >= CHOICE_LEAD:
                chosen, how = ranked[0], "search"
        if chosen is None:
            return None
        asked = self.tracker.get_slot("last_question") or ""
        combined = self.searcher.decide(f"{asked} {self.question}".strip())
        section = self.searcher.best_section(combined, chosen)
        return send_answer(
            self.dispatcher,
            self.tracker,
            self.guides[chosen],
            section,
            combined,
            f"{asked} {self.question}".strip(),
            self.state,
            "choice",
            chosen_by=how,
        )

    # ---- 5. follow-up
    def follow_up(self, decision: Decision) -> list[EventType] | None:
        topic = self.state.topic
        guide = self.guides.get(topic or "")
        if guide is None or guide.kind != "guide":
            return None
        facets = fu.facets_of(self.question)
        bare = fu.is_bare_follow_up(self.question)
        leans = not bare and leans_on_topic(self.question, decision, guide, self.searcher.coverage)
        if not bare and not leans:
            plain = ch.plain(self.question)
            words = plain.split()
            shaped = len(words) <= fu.MAX_FOLLOW_UP_WORDS and (
                bool(FOLLOW_SHAPED.search(plain)) or (bool(facets) and len(fu.residual_words(self.question)) <= 2)
            )
            if not shaped:
                return None
            scores = scores_of(decision)
            top = decision.top
            residual = fu.residual_words(self.question)
            conditional = bool(ENDS_WHAT_ABOUT.search(plain)) and len(residual) <= 3 and mostly_in(residual, guide, 1.0)
            if not conditional and (top is None or scores.get(topic, 0.0) < top.score - FOLLOW_KEEP):
                return None  # another guide fits clearly better: a topic switch
        section = -1
        if facets and bare:
            section = fu.facet_section([(s.heading, s.text) for s in guide.sections], facets)
        if section < 0:
            focused = self.searcher.decide(f"{guide.title} {self.question}", context_topic=topic)
            section = self.searcher.best_section(focused, topic)
            decision = focused
        return self._from_topic(guide, section, decision, facets)

    def _from_topic(self, guide, section: int, decision: Decision, facets: list[str]) -> list[EventType]:
        """Answer from the current topic's guide; say so when it has nothing on the fee / time asked."""
        notes = []
        shown = ch.plain(
            " ".join([guide.summary] + ([guide.sections[section].text] if 0 <= section < len(guide.sections) else []))
        )
        for facet in facets[:1]:
            if facet in FACET_NOTE and not FACET_WORDS[facet].search(shown):
                notes.append({"text": FACET_NOTE[facet]})
        events = send_answer(
            self.dispatcher,
            self.tracker,
            guide,
            section,
            decision,
            self.question,
            self.state,
            "follow_up",
            facets=facets or None,
        )
        _send(self.dispatcher, notes)
        return events

    # ---- 6. fresh search, asking when really ambiguous
    def fresh(self, decision: Decision) -> list[EventType]:
        top = decision.top
        floor = self.searcher.thresholds.clarify_floor
        plain = ch.plain(self.question)
        if is_secret_question(plain):
            return self._secret_question(decision, shared=bool(SECRET_SHARED.search(plain)))
        if (
            decision.action == "abstain"
            and decision.route is None
            and top is not None
            and top.kind == "guide"
            and top.score >= floor - 0.05
        ):
            # (a procedure no guide covers, or a handoff entry, stopped the answer: no cue overrides that)
            found = ch.ambiguous_pair(self.question, guide_ranking(decision))
            if isinstance(found, str) and found in self.guides:
                return self.send_guide(
                    found,
                    decision,
                    "cue",
                )
            leaned = self._lean_on_topic(decision)
            if leaned is not None:
                return leaned
        if decision.action in ("answer", "clarify") and top is not None and top.kind == "guide":
            found = ch.ambiguous_pair(self.question, guide_ranking(decision))
            if (
                isinstance(found, tuple)
                and decision.action == "clarify"
                and not set(decision.guide_ids) <= set(found[1])
            ):
                found = None  # the search already asks between the two closest guides: its pair stands
            if isinstance(found, tuple) and self.state.topic:
                # the conversation so far says which: the topic itself, or the same channel (app / portal)
                topic = self.state.topic
                same = [g for g in found[1] if g == topic] or [
                    g for g in found[1] if g.split("_")[0] == topic.split("_")[0]
                ]
                if len(same) == 1:
                    found = same[0]
            if isinstance(found, str) and found in self.guides:
                return self.send_guide(
                    found,
                    decision,
                    "cue",
                )
            if found is None:
                offered_auto = shared_thing_choices(
                    self.question, decision, self.guides, self.searcher.coverage, self.state.topic
                )
                if offered_auto:
                    found = (None, offered_auto)
            if isinstance(found, tuple):
                group, offered = found
                messages = replies.clarify_messages(
                    [self.guides[g] for g in offered],
                    decision,
                    question=group.question if group else None,
                    labels={g: group.labels[g] for g in offered} if group else None,
                )
                for m in annotate(messages, self.state, "ambiguity"):
                    dvc = DecisionPayload.of(m)
                    if dvc:
                        replace_in(m, dvc.update({"decision": "clarify", "guide_ids": offered}))
                _send_recorded(self.dispatcher, self.tracker, messages, self.question)
                return [SlotSet("last_question", self.question), *state_events(choices=offered, pending="choices")]
        if decision.action == "abstain" and decision.route is None:
            leaned = self._lean_on_topic(decision)
            if leaned is not None:
                return leaned
        return self.action._respond(self.dispatcher, self.tracker, self.searcher, decision, self.question, self.state)

    def _lean_on_topic(self, decision: Decision) -> list[EventType] | None:
        """Nothing fits on its own, but the words add to the current topic ("bé 8 tuổi thì dẫn đi đâu"):
        answer from the topic, when it ranks among the first three and holds most of the words."""
        topic = self.state.topic
        guide = self.guides.get(topic or "")
        if guide is None or guide.kind != "guide" or decision.route is not None:
            return None
        if topic not in [r.guide_id for r in decision.ranked[:3]]:
            return None
        if not mostly_in(fu.residual_words(self.question), guide):
            return None
        facets = fu.facets_of(self.question)
        focused = self.searcher.decide(f"{guide.title} {self.question}", context_topic=topic)
        section = fu.facet_section([(s.heading, s.text) for s in guide.sections], facets) if facets else -1
        if section < 0:
            section = self.searcher.best_section(focused, topic)
        return self._from_topic(guide, section, focused, facets)

    def _secret_question(self, decision: Decision, shared: bool) -> list[EventType]:
        """Who may ask for the OTP / password, or a password already shared: the rule first, then the guide."""
        ranked = [r.guide_id for r in decision.ranked if r.guide_id in PRIVACY_GUIDES and r.guide_id in self.guides]
        lead = [{"text": SHARED_ADVICE if shared else SECRET_ADVICE}]
        if not ranked:
            _send(self.dispatcher, lead)
            return self.action._respond(
                self.dispatcher, self.tracker, self.searcher, decision, self.question, self.state
            )
        return self.send_guide(ranked[0], decision, "situation:secret_question", lead=lead)
