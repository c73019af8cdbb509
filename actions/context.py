"""The dialogue state the bot reasons with, kept in Rasa slots (so the tracker store keeps it).

* ``last_topic`` / ``topic_section``: the guide (and section) of the current topic: follow-ups
  without a topic of their own are answered from it;
* ``choices``: the guides offered by the last "which one?"; the next message is matched against
  them first;
* ``pending``: what the bot last asked, so a "có", "ok", "không cần" is read against it:
  ``offer_human`` (shall I transfer you?), ``helpful`` (the "helpful?" buttons after an answer),
  ``choices`` (which one?), ``safety`` (after an emergency pointer);
* ``safety_concern``: the danger situation the bot warned about (dialogue/situations.py);
* ``offer_reason``: why a person was offered (policy:stolen_phone, repeated_abstain…), for the handoff.

Every decision payload carries ``context`` (the state the reply was read against) and
``resolved_from`` (search, follow_up, choice, cue, ambiguity, situation:<name>, safety) so tests and
the agent console see why a reply was chosen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from core.decision import DecisionPayload, replace_in

PENDING_VALUES = ("offer_human", "helpful", "choices", "safety")


@dataclass
class DialogueState:
    topic: str | None = None
    section: int | None = None
    choices: list[str] = field(default_factory=list)
    pending: str | None = None
    safety: str | None = None
    offer_reason: str | None = None

    @classmethod
    def from_tracker(cls, tracker: Tracker) -> DialogueState:
        section = tracker.get_slot("topic_section")
        try:
            section = int(section) if section is not None else None
        except (TypeError, ValueError):
            section = None
        choices = tracker.get_slot("choices") or []
        pending = tracker.get_slot("pending")
        return cls(
            topic=tracker.get_slot("last_topic"),
            section=section,
            choices=[c for c in choices if isinstance(c, str)] if isinstance(choices, list) else [],
            pending=pending if pending in PENDING_VALUES else None,
            safety=tracker.get_slot("safety_concern"),
            offer_reason=tracker.get_slot("offer_reason"),
        )

    def metadata(self) -> dict:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in (None, [])}


def state_events(
    *,
    topic: str | None | bool = False,
    section: int | None | bool = False,
    choices: list[str] | None | bool = False,
    pending: str | None | bool = False,
    safety: str | None | bool = False,
    offer_reason: str | None | bool = False,
) -> list[SlotSet]:
    """SlotSet events for the parts of the state given (``False`` = leave as it is)."""
    events = []
    for name, value in (
        ("last_topic", topic),
        ("topic_section", section),
        ("choices", choices),
        ("pending", pending),
        ("safety_concern", safety),
        ("offer_reason", offer_reason),
    ):
        if value is not False:
            if name == "topic_section" and value is not None:
                value = float(value)
            events.append(SlotSet(name, value))
    return events


def annotate(messages: list[dict], state: DialogueState, resolved_from: str, **extra) -> list[dict]:
    """Add ``context`` and ``resolved_from`` (and ``extra``) to the decision payloads in ``messages``."""
    for message in messages:
        payload = DecisionPayload.of(message)
        if payload is not None:
            payload.update({"context": state.metadata(), "resolved_from": resolved_from})
            payload.update({k: v for k, v in extra.items() if v is not None})
            replace_in(message, payload)
    return messages
