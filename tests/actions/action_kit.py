"""Helpers for running Rasa SDK actions in tests (no Rasa server, no action server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from retrieval import decision as decision_mod


def set_thresholds(monkeypatch: pytest.MonkeyPatch, thresholds: decision_mod.Thresholds) -> None:
    """Make ``Thresholds.load()`` (used by the service) return ``thresholds``."""
    monkeypatch.setattr(decision_mod.Thresholds, "load", classmethod(lambda cls, path=None: thresholds))


def make_tracker(
    text: str = "",
    intent: str = "ask_procedure",
    slots: dict | None = None,
    entities: list[dict] | None = None,
    sender: str = "test-user",
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
    }
    state: dict[str, Any] = {
        "sender_id": sender,
        "slots": {"last_topic": None, "last_question": None, "abstain_count": 0, **(slots or {})},
        "latest_message": latest,
        "events": [{"event": "user", "text": text, "parse_data": latest}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return Tracker.from_dict(state)


def run_action(action, tracker: Tracker) -> tuple[list[dict], list[dict]]:
    """Run an action; return (messages sent, events returned as dicts)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, {}))
    return dispatcher.messages, [dict(e) for e in events]
