"""The decision payload: what the bot decided for a message, sent beside its reply.

The action server sends it as a custom payload ``{"dvc": {...}}`` after the reply's text; the channels
drop it before a citizen sees anything; the handoff console, the interactions table (insights/), the
evaluators and the end-to-end tests read it. This module is the one place that builds and parses it.

``decision`` is one of answer, clarify, abstain, handoff, offer_handoff, emergency, safety_followup,
advice, feedback; ``guide_ids`` the guides it is about; everything else (reason, route, ranking, score,
section, context, resolved_from, helpful, handoff, position, …) is kept in ``details`` as sent.

>>> payload = DecisionPayload("handoff", [], {"reason": "user_request"})
>>> message = payload.message()
>>> message
{'custom': {'dvc': {'decision': 'handoff', 'guide_ids': [], 'reason': 'user_request'}}}
>>> DecisionPayload.of(message) == payload, DecisionPayload.of({"text": "Xin chào"})
(True, None)
>>> DecisionPayload.from_dict({"decision": "feedback", "guide_ids": ["vneid_passcode"], "helpful": True}).get("helpful")
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

KEY = "dvc"


@dataclass
class DecisionPayload:
    """One ``{"dvc": ...}`` payload. ``to_dict(from_dict(d)) == d`` for every payload the bot sends."""

    decision: str | None
    guide_ids: list[str] | None = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionPayload:
        details = {k: v for k, v in data.items() if k not in ("decision", "guide_ids")}
        guide_ids = data.get("guide_ids")
        return cls(data.get("decision"), list(guide_ids) if guide_ids is not None else None, details)

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.decision is not None:
            result["decision"] = self.decision
        if self.guide_ids is not None:
            result["guide_ids"] = list(self.guide_ids)
        result.update(self.details)
        return result

    def message(self) -> dict[str, Any]:
        """The custom message the action server sends: ``{"custom": {"dvc": ...}}``."""
        return {"custom": {KEY: self.to_dict()}}

    def get(self, key: str, default: Any = None) -> Any:
        """A field by its name in the payload (``decision``, ``guide_ids`` or a detail)."""
        return self.to_dict().get(key, default)

    def update(self, values: Mapping[str, Any]) -> DecisionPayload:
        """Set fields by their names in the payload; returns self."""
        for key, value in values.items():
            if key == "decision":
                self.decision = value
            elif key == "guide_ids":
                self.guide_ids = list(value) if value is not None else None
            else:
                self.details[key] = value
        return self

    @classmethod
    def of(cls, message: Mapping[str, Any] | None) -> DecisionPayload | None:
        """The payload in a message ``{"custom": {"dvc": ...}}`` (a dispatcher message, a REST reply), or
        in a Rasa ``bot`` event (``{"data": {"custom": ...}}``); None when it carries none."""
        if not isinstance(message, Mapping):
            return None
        custom = message.get("custom")
        if custom is None and isinstance(message.get("data"), Mapping):
            custom = message["data"].get("custom")
        if isinstance(custom, Mapping) and isinstance(custom.get(KEY), Mapping):
            return cls.from_dict(custom[KEY])
        return None


def payloads(messages: Iterable[Mapping[str, Any]]) -> list[DecisionPayload]:
    """Every decision payload among ``messages``, in order."""
    return [p for p in (DecisionPayload.of(m) for m in messages) if p is not None]


def replace_in(message: dict[str, Any], payload: DecisionPayload) -> None:
    """Write ``payload`` back into ``message`` (after :meth:`DecisionPayload.update`)."""
    message["custom"][KEY] = payload.to_dict()
