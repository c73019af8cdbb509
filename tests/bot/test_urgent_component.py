"""bot/components/urgent.py: urgent words override a misread intent (Rasa venv)."""

import pytest

pytest.importorskip("rasa")

from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.urgent import UrgentIntentOverride


def classified(text: str, intent: str, confidence: float = 0.9) -> Message:
    message = Message.build(text=text)
    message.set(INTENT, {"name": intent, "confidence": confidence})
    message.set(
        INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence}, {"name": "ask_procedure", "confidence": 0.05}]
    )
    return message


@pytest.fixture()
def component():
    return UrgentIntentOverride.create(UrgentIntentOverride.get_default_config(), None, None, None)


@pytest.mark.parametrize(
    "text, intent",
    [
        ("nhà hàng xóm đang cháy", "bot_challenge"),
        ("cuu voi, co nguoi bi danh", "goodbye"),
        ("bố tôi ngất xỉu rồi", "greet"),
    ],
)
def test_urgent_words_send_the_message_to_the_answer_action(component, text, intent):
    [message] = component.process([classified(text, intent)])
    assert message.get(INTENT) == {"name": "ask_procedure", "confidence": 1.0}
    ranking = message.get(INTENT_RANKING_KEY)
    assert ranking[0] == {"name": "ask_procedure", "confidence": 1.0}
    assert [r["name"] for r in ranking].count("ask_procedure") == 1
    assert message.get("urgent_original_intent")["name"] == intent


@pytest.mark.parametrize(
    "text, intent",
    [
        ("tạm biệt nhé", "goodbye"),  # nothing urgent
        ("cháy nhà mất căn cước làm lại sao", "ask_procedure"),  # already the answer action
        ("cấp cứu! cho gặp nhân viên", "request_human"),  # the handoff action sends the pointer too
        ("/goodbye", "goodbye"),  # a button payload
    ],
)
def test_other_messages_keep_their_intent(component, text, intent):
    [message] = component.process([classified(text, intent)])
    assert message.get(INTENT)["name"] == intent
    assert message.get("urgent_original_intent") is None
    assert message.get(TEXT) == text
