"""The answer / clarify / abstain decision on the ranked guides (:class:`retrieval.search.Searcher` ranks them).

The decision answers only when the best guide is both strong and clearly ahead of the next; when two
guides are close it asks the citizen to choose; otherwise it abstains and the bot offers a person
(thresholds in thresholds.json, fitted by ``python -m evaluation.calibrate``).

The answerability check (issue #11) sits on top of the scores: the key things the citizen names
(procedures, documents, app features) are found with spaCy (:mod:`retrieval.keyterms`); a procedure
from the catalogue of procedures no guide covers (``knowledge/uncovered/``) that the chosen guide does
not cover stops the answer and is routed ("no guide for X yet"), however close the wording.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval.keyterms import SPECIFIC, Entity

THRESHOLDS_FILE = Path(__file__).with_name("thresholds.json")

# How far below the top a guide that covers the key thing named may rank and still be preferred.
KEY_MARGIN = 0.05
# A near-miss answered when the top guide covers every key thing asked about (rescue_named).
RESCUE_SLACK = 0.04
RESCUE_LEAD = 0.12


@dataclass(frozen=True)
class Thresholds:
    """Fusion weights and decision thresholds (see evaluation/calibrate.py for how they are fitted)."""

    dense_weight: float = 0.5  # share of the dense score in the fused score; the rest is lexical
    top_k: float = 3  # a guide's score is the mean of its k best-matching units (see _per_guide)
    answer: float = 0.55  # fused score the best guide needs for any answer from a guide
    margin: float = 0.04  # lead over the second guide needed to answer without asking
    clarify_floor: float = 0.5  # the second guide must reach this to be offered as a choice
    context_bonus: float = 0.08  # added to the previous topic's score for follow-up messages

    @classmethod
    def load(cls, path: Path = THRESHOLDS_FILE) -> Thresholds:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{k: float(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Ranked:
    guide_id: str
    score: float
    lexical: float
    dense: float
    kind: str = "guide"  # "guide", or a routing entry ("handoff" / "uncovered") never answered from


@dataclass
class Decision:
    """What the bot does with a question: ``answer``, ``clarify`` or ``abstain``."""

    action: str
    ranked: list[Ranked]
    query: str
    restored: str = ""
    used_context: bool = False
    guide_ids: list[str] = field(default_factory=list)
    unit_scores: np.ndarray | None = field(default=None, repr=False)  # fused score of every unit
    entities: list[Entity] = field(default_factory=list)  # key things named in the question (spaCy)
    question_part: str = ""  # the question found inside a long message ("" when the whole was used)
    scored_part: bool = False  # the decision came from the question part, not the whole message
    routed: Ranked | None = None  # an uncovered catalogue procedure that stopped the answer
    check: str = ""  # what the answerability check did: "", "covered", "uncovered:<id>"

    @property
    def top(self) -> Ranked | None:
        return self.ranked[0] if self.ranked else None

    @property
    def route(self) -> Ranked | None:
        """The routing entry (handoff / uncovered) that stopped the answer, if any."""
        if self.action != "abstain":
            return None
        if self.routed is not None:
            return self.routed
        top = self.top
        return top if top is not None and top.kind != "guide" else None

    def as_metadata(self) -> dict:
        route = self.route
        return {
            "decision": self.action,
            "route": f"{route.kind}:{route.guide_id}" if route else None,
            "guide_ids": self.guide_ids,
            "ranking": [
                {
                    "id": r.guide_id,
                    "score": round(r.score, 4),
                    "lexical": round(r.lexical, 4),
                    "dense": round(r.dense, 4),
                }
                for r in self.ranked[:3]
            ],
            "score": round(self.ranked[0].score, 4) if self.ranked else 0.0,
            "used_context": self.used_context,
            "entities": [e.as_dict() for e in self.entities],
            "question_part": self.question_part,
            "scored_part": self.scored_part,
            "check": self.check,
        }


def check_answerable(entities: list[Entity], guide_id: str, coverage: dict[str, frozenset[str]]) -> Entity | None:
    """The uncovered procedure that stops an answer from ``guide_id``, or None when it may answer.

    Only specific key things count (procedures, documents, app features; not the app or an agency).
    A catalogue procedure (no guide covers it) that this guide does not cover stops the answer,
    unless the guide covers a key thing named *before* it: the main thing comes first ("xin giấy xác
    nhận tình trạng hôn nhân để đăng ký kết hôn" is about the certificate). A catalogue procedure
    the message marks as done or as a state ("đã ly hôn", "làm sổ đỏ rồi", "chưa đăng ký kết hôn")
    is background and does not stop a guide that covers a key thing named in the message ("đã ly hôn,
    giờ xin xác nhận tình trạng hôn nhân"); on its own it still does.
    """
    covered = coverage.get(guide_id, frozenset())
    specific = [e for e in entities if e.term.label in SPECIFIC]
    foreign = [e for e in specific if e.term.uncovered and e.term.id not in covered]
    if not foreign:
        return None
    own = [e for e in specific if e.term.id in covered]
    if own:
        foreign = [e for e in foreign if not e.background]
        if not foreign:
            return None
    if own and own[0].start < foreign[0].start:
        return None
    return foreign[0]


def settle_check(
    action: str, guide_ids: list[str], top: Ranked | None, entities: list[Entity], coverage: dict[str, frozenset[str]]
) -> tuple[str, list[str], Entity | None, str]:
    """Apply the answerability check to a :func:`choose` result.

    Returns (action, guide ids, the uncovered procedure that stopped or routed it, a label for the
    metadata). Guides that do not cover a named uncovered procedure are dropped: an answer becomes
    an abstention routed to that procedure, a clarification keeps only the guides that pass. An
    abstention that names an uncovered procedure is routed to it too, so the reply can say so.
    """
    if not entities:
        return action, guide_ids, None, ""
    if action in ("answer", "clarify"):
        kept, stopper = [], None
        for guide_id in guide_ids:
            blocking = check_answerable(entities, guide_id, coverage)
            if blocking is None:
                kept.append(guide_id)
            else:
                stopper = stopper or blocking
        if stopper is None:
            return action, guide_ids, None, "covered"
        if action == "clarify" and len(kept) >= 2:
            return "clarify", kept, stopper, f"uncovered:{stopper.term.id}"
        if kept:
            return "answer", kept[:1], stopper, f"uncovered:{stopper.term.id}"
        return "abstain", [], stopper, f"uncovered:{stopper.term.id}"
    if top is None or top.kind == "guide":
        blocking = check_answerable(entities, top.guide_id if top else "", coverage)
        if blocking is not None:
            return action, guide_ids, blocking, f"uncovered:{blocking.term.id}"
    return action, guide_ids, None, ""


def prefer_covering(
    action: str,
    guide_ids: list[str],
    ranked: list[Ranked],
    entities: list[Entity],
    coverage: dict[str, frozenset[str]],
    floor: float,
    margin: float = KEY_MARGIN,
) -> tuple[str, list[str]]:
    """The positive side of the answerability check, for a "which one?": offer what the citizen names.

    A clarification keeps only the offered guides that cover a specific key thing the message names;
    when one is left, it is answered. When none of them covers it but a guide that does ranks within
    ``margin`` of the top (and above ``floor``), that one is answered (or the covering guides that
    close are offered). Answers are left alone: switching them cost one right answer on the dev
    tuning split and gained nothing on our own examples (docs/evaluation.md).
    """
    # what the citizen asks about: not a thing told as done ("nộp hồ sơ online xong rồi, theo dõi ở đâu")
    specific = [e for e in entities if e.term.label in SPECIFIC and not e.term.uncovered and not e.background]
    if action != "clarify" or not specific or not ranked:
        return action, guide_ids

    def covers(guide_id: str) -> bool:
        own = coverage.get(guide_id, frozenset())
        return any(e.term.id in own for e in specific)

    chosen = [g for g in guide_ids if covers(g)]
    if chosen and len(chosen) == len(guide_ids):
        return action, guide_ids
    if chosen:  # a clarification with some offered guides off the point
        return ("answer", chosen) if len(chosen) == 1 else ("clarify", chosen)
    top = ranked[0].score
    near = [r for r in ranked[:6] if r.kind == "guide" and covers(r.guide_id) and r.score >= max(floor, top - margin)]
    if not near:
        return action, guide_ids
    close = [r.guide_id for r in near if near[0].score - r.score < margin / 2]
    return ("answer", [near[0].guide_id]) if len(close) == 1 else ("clarify", close[:3])


def rescue_named(
    action: str,
    guide_ids: list[str],
    ranked: list[Ranked],
    entities: list[Entity],
    coverage: dict[str, frozenset[str]],
    t: Thresholds,
) -> tuple[str, list[str]]:
    """Answer a near-miss when the top guide covers the key thing asked about and no guide is close.

    "Cổng 1022 của thành phố nhận những loại phản ánh gì" scores just under the answer threshold
    while every other guide is far behind; the top guide covers the thing named (the hotline). Only
    within :data:`RESCUE_SLACK` of the threshold, with a lead of :data:`RESCUE_LEAD`; a catalogue
    procedure named still stops it afterwards (the answerability check).
    """
    if action != "abstain" or len(ranked) < 2 or ranked[0].kind != "guide":
        return action, guide_ids
    top, second = ranked[0], ranked[1]
    if top.score < t.answer - RESCUE_SLACK or top.score - second.score < RESCUE_LEAD:
        return action, guide_ids
    # any key thing here, agencies included ("tổng đài 1022"): the lead already says which guide
    asked = [e for e in entities if not e.term.uncovered and not e.background]
    own = coverage.get(top.guide_id, frozenset())
    if asked and all(e.term.id in own for e in asked):
        return "answer", [top.guide_id]
    return action, guide_ids


def choose(ranked: list[Ranked], t: Thresholds) -> tuple[str, list[str]]:
    """The decision rule: answer when strong and clearly ahead, clarify when close, else abstain."""
    if not ranked or ranked[0].score < t.answer or ranked[0].kind != "guide":
        return "abstain", []
    top = ranked[0]
    second = ranked[1] if len(ranked) > 1 else None
    if second is None or top.score - second.score >= t.margin or second.score < t.clarify_floor:
        return "answer", [top.guide_id]
    close = [
        r.guide_id
        for r in ranked[:3]
        if top.score - r.score < t.margin and r.score >= t.clarify_floor and r.kind == "guide"
    ]
    if len(close) < 2:
        # The close runner-up is a routing entry (e.g. an uncovered procedure): too uncertain.
        return "abstain", []
    return "clarify", close
