"""When the bot offers a person on its own (used by actions/answer.py; pure, no rasa_sdk).

* the question hit a routing entry of the ``handoff`` group (knowledge/routing.yml: complaints, a
  specific dossier, wrong personal data): offer at once;
* the search abstained twice in a row (``abstain_count`` after this abstention >= 2): offer.

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
