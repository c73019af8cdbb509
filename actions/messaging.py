"""Sending the composed messages (actions/replies.py shapes) through Rasa's dispatcher, and recording
the decision they carry as one interaction row (insights/recording.py). Used by every action."""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from core.decision import payloads
from insights import recording

log = logging.getLogger(__name__)


def send(dispatcher: CollectingDispatcher, messages: list[dict]) -> None:
    for message in messages:
        if "custom" in message:
            dispatcher.utter_message(json_message=message["custom"])
        else:
            dispatcher.utter_message(text=message["text"], buttons=message.get("buttons", []))


def record(
    tracker: Tracker,
    messages: list[dict],
    question: str | None,
    outcome: str | None = None,
    guesses: list[dict] | None = None,
) -> None:
    """One interaction row per ``{"dvc": ...}`` decision in ``messages`` (insights/recording.py).

    Queued for a background thread: it never slows or breaks the reply.
    """
    try:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        channel = tracker.get_latest_input_channel()
        for payload in payloads(messages):
            recording.record_decision(
                payload.to_dict(),
                sender_id=tracker.sender_id,
                channel=channel,
                question=question,
                intent=intent,
                outcome=outcome,
                guesses=guesses,
            )
    except Exception:  # a reply never fails because of the report
        log.exception("could not record the decision for %s", tracker.sender_id)


def send_recorded(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    messages: list[dict],
    question: str | None,
    outcome: str | None = None,
    guesses: list[dict] | None = None,
) -> None:
    """Send ``messages`` and record the decision they carry."""
    send(dispatcher, messages)
    record(tracker, messages, question, outcome, guesses)
