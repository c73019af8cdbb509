"""Urgent messages reach the action that points to 113 / 114 / 115, whatever the NLU thought.

The 113/114/115 pointer (core/safety.py) is sent by the actions that answer questions and hand
off. A message the intent classifier files under ``goodbye``, ``bot_challenge`` or ``greet`` ("nhà
hàng xóm đang cháy", "cứu với") would get a canned response and no pointer. This component runs
after the classifiers: when the text has urgent words and the intent is not one of those actions'
intents, it sets the intent to ``ask_procedure`` (the answer action sends the pointer first, then
searches the guides, which abstain on an emergency) and keeps the classifier's guess in
``urgent_original_intent``. A keyword check on purpose: it must not depend on the model.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from dialogue.shape import reroute
from core.safety import urgent_services

log = logging.getLogger(__name__)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class UrgentIntentOverride(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # intents whose actions already send the pointer
            "keep_intents": ["ask_procedure", "request_human"],
            "intent": "ask_procedure",
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.keep = set(config.get("keep_intents") or [])
        self.intent = config.get("intent") or "ask_procedure"

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UrgentIntentOverride:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if text.startswith("/") or not urgent_services(text):
                continue
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            if name in self.keep:
                continue
            log.info("urgent words: intent %s -> %s", name, self.intent)
            message.set("urgent_original_intent", dict(intent), add_to_output=True)
            message.set(INTENT, {INTENT_NAME_KEY: self.intent, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != self.intent]
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: self.intent, PREDICTED_CONFIDENCE_KEY: 1.0}, *ranking],
                add_to_output=True,
            )
        return messages


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class MessageShapeOverride(GraphComponent):
    """After the classifiers: a request for a person goes to request_human; a short question the
    classifier filed under goodbye / thanks / yes / no / small talk ("het bao nhieu tien", "lam o
    dau", "có mất phí ko"), or a described danger / policy situation, goes to ask_procedure, where
    the answer action reads it against the conversation (follow-ups, dialogue/followup.py).
    The classifier's guess is kept in ``shape_original_intent``."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MessageShapeOverride:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = message.get(INTENT) or {}
            name = intent.get(INTENT_NAME_KEY)
            target = reroute(text, name)
            if not target or target == name:
                continue
            log.info("message shape: intent %s -> %s", name, target)
            message.set("shape_original_intent", dict(intent), add_to_output=True)
            message.set(INTENT, {INTENT_NAME_KEY: target, PREDICTED_CONFIDENCE_KEY: 1.0}, add_to_output=True)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != target]
            message.set(
                INTENT_RANKING_KEY,
                [{INTENT_NAME_KEY: target, PREDICTED_CONFIDENCE_KEY: 1.0}, *ranking],
                add_to_output=True,
            )
        return messages
