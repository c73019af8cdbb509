"""A new Rasa session must not wake the bot in the middle of a handoff.

Rasa starts a new session after ``session_expiration_time`` (domain.yml) without a message; the
``SessionStarted`` event resets the tracker, and with it the pause that ``action_request_human``
set. A citizen who waits an hour for an agent and then writes again would get the bot back while
an agent still holds (or is about to take) the conversation. This ``action_session_start`` does
what Rasa's does, then pauses again when the handoff store has an open handoff for the sender.
If the store cannot be read, the new session starts unpaused (the bot answers; logged).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ConversationPaused, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)


def _open_handoff(sender_id: str) -> dict | None:
    from handoff.config import load_config
    from handoff.store import get_store

    return get_store(load_config().database_url).open_handoff_for_sender(sender_id)


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    @staticmethod
    def _carried_slots(tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        config = (domain or {}).get("session_config") or {}
        if not config.get("carry_over_slots_to_new_session"):
            return []
        return [SlotSet(name, value) for name, value in (tracker.slots or {}).items() if value is not None]

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        events: list[EventType] = [SessionStarted(), *self._carried_slots(tracker, domain)]
        try:
            handoff = await asyncio.to_thread(_open_handoff, tracker.sender_id)
        except Exception:  # no store: the session starts normally
            log.exception("session start of %s: the handoff store could not be read", tracker.sender_id)
            handoff = None
        if handoff is not None:
            log.info(
                "session start of %s during handoff %s (%s): stays paused",
                tracker.sender_id,
                handoff["id"],
                handoff["status"],
            )
            events.append(ConversationPaused())
        events.append(ActionExecuted("action_listen"))
        return events
