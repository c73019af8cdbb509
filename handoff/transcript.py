"""Read a conversation out of Rasa tracker events (the JSON form both Rasa and rasa_sdk use).

* ``transcript``: user and bot texts with their times (an agent's reply is a bot event flagged
  ``{"custom": {"human_agent": true}}``); citizens' secrets are redacted here already.
* ``understanding``: what the bot made of the conversation: the last intent, the last question,
  and the latest ``{"dvc": ...}`` decision the bot sent (decision, route, top guides and scores).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from core.decision import DecisionPayload
from core.privacy import redact_secrets

# Intents that are about the handoff itself, not what the citizen needs.
META_INTENTS = {
    "request_human",
    "affirm",
    "deny",
    "greet",
    "thank",
    "goodbye",
    "feedback_helpful",
    "feedback_not_helpful",
    "bot_challenge",
}
QUESTION_INTENTS = {"ask_procedure", "nlu_fallback", "out_of_scope", "choose_topic"}


def _custom(event: dict) -> dict:
    data = event.get("data") or {}
    custom = data.get("custom") if isinstance(data, dict) else None
    return custom if isinstance(custom, dict) else {}


def is_agent_event(event: dict) -> bool:
    return event.get("event") == "bot" and bool(_custom(event).get("human_agent"))


def _intent(event: dict) -> str | None:
    parse = event.get("parse_data") or {}
    return ((parse.get("intent") or {}).get("name")) if isinstance(parse, dict) else None


def event_key(event: dict) -> str:
    """A stable id for a tracker event (Rasa events have none): time, kind and text."""
    raw = f"{event.get('timestamp')}|{event.get('event')}|{event.get('text') or ''}"
    return "rasa:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def transcript(events: Iterable[dict], after: float = 0.0, limit: int = 200, include_agent: bool = True) -> list[dict]:
    """``[{ts, role, text, source_key}]`` for user and bot messages with ``timestamp > after``."""
    result: list[dict] = []
    for event in events:
        kind = event.get("event")
        ts = float(event.get("timestamp") or 0)
        if kind not in ("user", "bot") or ts <= after:
            continue
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            continue
        if kind == "user":
            role, text = "user", redact_secrets(text)
        elif is_agent_event(event):
            if not include_agent:
                continue
            role = "agent"
        else:
            role = "bot"
        result.append({"ts": ts, "role": role, "text": text, "source_key": event_key(event)})
    return result[-limit:]


def latest_decision(events: Iterable[dict]) -> dict | None:
    """The last ``{"dvc": {...}}`` payload the bot sent, if any."""
    found = None
    for event in events:
        if event.get("event") == "bot":
            payload = DecisionPayload.of({"custom": _custom(event)})
            if payload is not None:
                found = payload.to_dict()
    return found


def understanding(
    events: list[dict],
    latest_message: dict | None = None,
    slots: dict | None = None,
    titles: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """What the bot understood, for the agent: intents, question, last decision with top guides."""
    latest_message = latest_message or {}
    slots = slots or {}
    intent = (latest_message.get("intent") or {}) if isinstance(latest_message, dict) else {}
    previous_intent = None
    question = None
    for event in events:
        if event.get("event") != "user":
            continue
        name = _intent(event)
        if name and name not in META_INTENTS:
            previous_intent = name
        if name in QUESTION_INTENTS and isinstance(event.get("text"), str) and not event["text"].startswith("/"):
            question = event["text"]
    decision = latest_decision(events) or {}
    guides = []
    for item in (decision.get("ranking") or [])[:3]:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        entry = {"id": item["id"], "score": item.get("score")}
        if titles:
            try:
                entry["title"] = titles(item["id"])
            except Exception:  # noqa: BLE001 - titles are a nicety, never a failure
                entry["title"] = None
        guides.append(entry)
    return {
        "last_intent": intent.get("name"),
        "last_intent_confidence": intent.get("confidence"),
        "previous_intent": previous_intent,
        "question": redact_secrets(question) if question else None,
        "decision": decision.get("decision"),
        "route": decision.get("route"),
        "decision_reason": decision.get("reason"),
        "guide_ids": decision.get("guide_ids") or [],
        "top_guides": guides,
        "last_topic": slots.get("last_topic"),
        "abstain_count": slots.get("abstain_count"),
    }
