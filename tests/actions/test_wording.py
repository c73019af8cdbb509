"""A text said both by a Rasa response (domain.yml) and by Python (actions/replies.py, handoff/messages.py)
is the same text in both: the copies cannot drift apart."""

from __future__ import annotations

from pathlib import Path

import yaml

from actions import replies
from handoff import messages

DOMAIN = Path(__file__).resolve().parents[2] / "domain.yml"


def test_python_copies_of_domain_responses_are_identical():
    responses = yaml.safe_load(DOMAIN.read_text(encoding="utf-8"))["responses"]

    def text(name: str) -> str:
        (variant,) = responses[name]
        return variant["text"]

    assert replies.DECLINED_TEXT == text("utter_handoff_declined")  # said by action_reply_in_context
    assert messages.CLOSED_TEXT == text("utter_handoff_closed")  # the console logs it and writes the event
    assert messages.RETURNED_TEXT == text("utter_handoff_returned")
    agent_buttons = [b["title"] for name in ("utter_iamabot", "utter_default") for b in responses[name][0]["buttons"]]
    assert agent_buttons == [replies.MEET_AGENT, replies.MEET_AGENT]
