"""When the bot offers a person on its own (used by actions/answer.py; pure, no rasa_sdk).

* the question hit a routing entry of the ``handoff`` group (knowledge/routing.yml: complaints, a
  specific dossier, wrong personal data): offer at once;
* the search abstained twice in a row (``abstain_count`` after this abstention >= 2): offer;
* the citizen said an answer did not help and asks again, and the bot has nothing better: the
  same guide again, a choice between guides, or no answer (``after_unhelpful``): offer.

The offer is ``action_offer_handoff``, run as a follow-up action in the same turn; affirm / deny
after it are handled by data/rules/handoff.yml.
"""

from __future__ import annotations

OFFER_ACTION = "action_offer_handoff"
ABSTAINS_BEFORE_OFFER = 2


def should_offer_handoff(decision_meta: dict | None, abstain_count: float | int | None) -> bool:
    meta = decision_meta or {}
    if meta.get("decision") not in (None, "abstain"):
        return False
    route = str(meta.get("route") or "")
    if route.startswith("handoff:"):
        return True
    return (abstain_count or 0) >= ABSTAINS_BEFORE_OFFER


def after_unhelpful(unhelpful_topic: str | None, decision_meta: dict | None) -> bool:
    """True when the citizen is asking again after "not helpful" and the bot would not do better:
    the same guide again, a choice, or no answer. A different guide is answered normally."""
    if not unhelpful_topic:
        return False
    meta = decision_meta or {}
    if meta.get("decision") == "answer":
        return unhelpful_topic in (meta.get("guide_ids") or [])[:1]
    return True
