"""Hybrid search over the guides; the answer / clarify / abstain decision is :mod:`retrieval.decision`.

Two signals per guide, each the best match over the guide's units (title, summary, sample
questions, sections):

* lexical: cosine of TF-IDF vectors of character 2-5-grams on accent-folded, abbreviation-expanded
  text. Insensitive to missing diacritics and most typos (shared/models/embeddings.md: 0.96 MRR
  on the main set, where the citizen uses the guides' words).
* dense: cosine of sentence embeddings of the query, with diacritics restored from the guides'
  vocabulary, against the units. Carries paraphrases that share no words with the guide.

They are fused as a weighted sum (weights and thresholds in thresholds.json, fitted by
``python -m evaluation.calibrate``), and :func:`retrieval.decision.choose` decides.

Two checks sit on top of the scores (issue #11):

* answerability (:func:`retrieval.decision.settle_check`): a procedure no guide covers that the
  chosen guide does not cover stops the answer and is routed ("no guide for X yet");
* long messages: the question inside a story is found (clauses and question cues) and scored as
  well as the whole message; the better of the two decides, the whole story stays in the metadata
  for the agent's handoff summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from core.text.normalize import fold, normalize
from retrieval.decision import Decision, Ranked, Thresholds, choose, prefer_covering, rescue_named, settle_check
from retrieval.encoders import Encoder
from retrieval.index import Index
from retrieval.keyterms import SPECIFIC, Entity, KeyTerms
from retrieval.restore import DiacriticRestorer

# Words that open a follow-up leaning on the previous topic ("còn nếu không có NFC thì sao?").
# Matched on accented text, so "thẻ …" (card) or "mã …" (code) are not mistaken for "thế"/"mà".
FOLLOW_UP = re.compile(r"^(còn|thế còn|vậy còn|vậy thì|vậy|nhưng|nếu|thế nếu|thế thì|trường hợp|lỡ|lỡ như|mà nếu)\b")
# For messages typed entirely without diacritics: "con" alone is also "con" (child), so only
# unambiguous openings count.
FOLLOW_UP_UNACCENTED = re.compile(
    r"^(con neu|con khi|con truong hop|con lo|the con|vay con|vay thi|nhung neu|"
    r"neu|the neu|truong hop|lo nhu)\b"
)
# "How do I …" questions, on accent-folded text, and sections that hold numbered steps.
HOW_TO = re.compile(
    r"\b(lam sao|lam the nao|nhu the nao|the nao|ra sao|cach|kieu gi|cac buoc|thu tuc|o dau|"
    r"lam gi|phai lam|xu ly)\b"
)
NUMBERED_STEP = re.compile(r"^\s*1[.)]\s", re.M)
# Head start, in fused-score units, for a numbered-steps section when the question asks how: the
# unit scores of a guide's sections typically differ by 0.02-0.1 for the same question.
STEPS_BONUS = 0.05
# A follow-up is short: past this many words the message carries its own topic.
FOLLOW_UP_MAX_WORDS = 12
# Long messages: from this many words on, the question part is scored as well as the whole.
LONG_MIN_WORDS = 18
# The question part is grown backwards, clause by clause, to at least this many words.
QUESTION_MIN_WORDS = 8
CLAUSE_SPLIT = re.compile(r"(?<=[.!?;…])\s+|\n+|,\s*|\s+(?=(?:nhưng|nhung|mà giờ|ma gio)\s)")
# Question cues, on accent-folded text.
QUESTION_CUE = re.compile(
    r"\?|\b(khong|sao|the nao|nhu nao|ra sao|o dau|bao lau|bao nhieu|bao gio|duoc khong|"
    r"duoc ko|lam sao|cach nao|can gi|giay to gi|gi khong|gi a|gi vay|chua|hay khong|nao)\b"
)
# "cho tôi hỏi", "xin hỏi", "muốn hỏi": the question starts here.
ASK_OPENER = re.compile(
    r"\b(cho (?:toi|em|minh|chau|con|anh|chi) hoi|xin hoi|muon hoi|hoi (?:la|chut|xiu|giup)|"
    r"nho (?:ad|admin|ban|em|anh|chi)? ?(?:huong dan|chi|giup)|(?:toi|em|minh) can biet)\b"
)


@dataclass
class Signals:
    query: str
    restored: str
    lex_units: np.ndarray
    dense_units: np.ndarray | None


def question_part(text: str) -> str:
    """The question inside a long message that tells a story first ("" when there is no shorter part).

    The message is cut into clauses (sentence ends, commas, "nhưng"); the part is the last clause with
    a question cue ("?", "không", "thế nào", "ở đâu", "bao lâu", "được không"…), or what follows
    "cho tôi hỏi", grown backwards clause by clause to :data:`QUESTION_MIN_WORDS` words.

    >>> question_part("Năm ngoái tôi chuyển vào Bình Dương làm công nhân, ở trọ gần khu công nghiệp, "
    ...               "chủ trọ bảo phải khai báo, vậy đăng ký tạm trú online ở đâu?")
    'vậy đăng ký tạm trú online ở đâu?'
    """
    text = (text or "").strip()
    if len(text.split()) < LONG_MIN_WORDS:
        return ""
    clauses = [c.strip() for c in CLAUSE_SPLIT.split(text) if c and c.strip()]
    if len(clauses) < 2:
        return ""
    folded = [fold(c) for c in clauses]
    cues = [i for i, f in enumerate(folded) if QUESTION_CUE.search(f)]
    end = cues[-1] if cues else len(clauses) - 1
    start = end
    openers = [i for i, f in enumerate(folded[: end + 1]) if ASK_OPENER.search(f)]
    if openers:
        start = openers[-1]
    while start > 0 and sum(len(c.split()) for c in clauses[start : end + 1]) < QUESTION_MIN_WORDS:
        start -= 1
    part = ", ".join(clauses[start : end + 1])
    return part if len(part.split()) < len(text.split()) else ""


_ACTION_RANK = {"answer": 2, "clarify": 1, "abstain": 0}


def _strength(decision: Decision) -> tuple[int, float]:
    """Order of preference between two decisions on the same message: answer > clarify > abstain,
    then the higher top score."""
    return _ACTION_RANK.get(decision.action, 0), decision.top.score if decision.top else 0.0


class Searcher:
    """Serves one index. Thread-safe for reads; build a new one to serve a new index."""

    def __init__(
        self,
        index: Index,
        encoder: Encoder | None,
        thresholds: Thresholds | None = None,
        keyterms: KeyTerms | None = None,
    ):
        self.index = index
        self.encoder = encoder if index.vectors is not None and index.dense is not None else None
        self.thresholds = thresholds or Thresholds.load()
        self.keyterms: KeyTerms | None = None
        self.coverage: dict[str, frozenset[str]] = {}
        self.use_question_part = True  # False only to measure what scoring the question part adds
        self.prefer_covering = True  # False only to measure what preferring a covering guide adds
        texts = [u.text for u in index.units]
        # char_wb 2-5-grams on folded text; sublinear tf so long sections do not dominate.
        self._tfidf = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, preprocessor=fold, dtype=np.float32
        )
        self._lex_matrix = self._tfidf.fit_transform(texts)
        self._guide_ids = sorted({u.guide_id for u in index.units})  # catalogue routes have no units
        position = {g: i for i, g in enumerate(self._guide_ids)}
        self._unit_guide = np.array([position[u.guide_id] for u in index.units])
        if np.any(np.diff(self._unit_guide) < 0):
            raise ValueError("index units must be sorted by guide id")
        bounds = np.searchsorted(self._unit_guide, np.arange(len(self._guide_ids) + 1))
        self._spans = list(zip(bounds[:-1], bounds[1:]))
        vocabulary = texts + [s.text for g in index.guides.values() for s in g.sections]
        self._restorer = DiacriticRestorer(vocabulary)
        self.use_keyterms(keyterms)

    def use_keyterms(self, keyterms: KeyTerms | None) -> None:
        """Serve with these key terms (None: no answerability check); staff edits swap them in."""
        if keyterms is not None:
            # Catalogue entries become routing entries the replies can name; they have no units,
            # so they never rank (the answerability check routes to them).
            for route in keyterms.catalogue_guides():
                self.index.guides.setdefault(route.id, route)
        self.coverage = keyterms.coverage(self.index.guides) if keyterms else {}
        self.keyterms = keyterms

    @property
    def dense_enabled(self) -> bool:
        return self.encoder is not None

    def _per_guide(self, unit_scores: np.ndarray, k: int) -> np.ndarray:
        """Mean of each guide's ``k`` best unit scores.

        The right guide usually matches several of its units (sample questions, a section); a
        neighbour matches one by chance. Averaging the top 3 lifted recall@1 on the dev set from
        0.95 to 0.99 over taking the single best unit (docs/evaluation.md).
        """
        out = np.empty(len(self._guide_ids), dtype=np.float32)
        for g, (start, end) in enumerate(self._spans):
            block = unit_scores[start:end]
            kk = max(1, min(k, len(block)))
            out[g] = np.partition(block, len(block) - kk)[len(block) - kk :].mean()
        return out

    def signals(self, query: str) -> Signals:
        """The expensive part of a search (one embedding), independent of weights and thresholds."""
        lex_units = (self._lex_matrix @ self._tfidf.transform([query]).T).toarray().ravel()
        restored = self._restorer.restore(query)
        dense_units = None
        if self.encoder is not None:
            qvec = self.encoder.encode_queries([restored])[0]
            dense_units = self.index.dense.unit_scores(qvec)
        return Signals(query, restored, lex_units, dense_units)

    def rank_signals(
        self, sig: Signals, t: Thresholds, context_topic: str | None = None, entities: list[Entity] | None = None
    ) -> tuple[list[Ranked], bool, np.ndarray]:
        """Fuse the signals with weights ``t``. Returns (ranking, context used, unit scores)."""
        k = int(t.top_k)
        lex = self._per_guide(sig.lex_units, k)
        if sig.dense_units is not None:
            dense = self._per_guide(sig.dense_units, k)
            fused = t.dense_weight * dense + (1 - t.dense_weight) * lex
            combined_units = t.dense_weight * sig.dense_units + (1 - t.dense_weight) * sig.lex_units
        else:
            dense = np.zeros_like(lex)
            fused = lex
            combined_units = sig.lex_units
        used_context = False
        if (
            context_topic in self._guide_ids
            and self.looks_like_follow_up(sig.query)
            and not self._names_other_topic(entities or [], context_topic)
        ):
            fused = fused.copy()
            fused[self._guide_ids.index(context_topic)] += t.context_bonus
            used_context = True
        order = np.argsort(-fused, kind="stable")
        guides = self.index.guides
        ranked = [
            Ranked(self._guide_ids[i], float(fused[i]), float(lex[i]), float(dense[i]), guides[self._guide_ids[i]].kind)
            for i in order
        ]
        return ranked, used_context, combined_units

    def _names_other_topic(self, entities: list[Entity], topic: str) -> bool:
        """The message names a specific key thing and none of them is covered by ``topic``:
        "còn đăng ký kết hôn thì sao?" after a marital-status answer is a new question."""
        specific = [e for e in entities if e.term.label in SPECIFIC]
        covered = self.coverage.get(topic, frozenset())
        return bool(specific) and not any(e.term.id in covered for e in specific)

    @staticmethod
    def looks_like_follow_up(query: str) -> bool:
        """True for short messages that lean on the previous topic.

        >>> Searcher.looks_like_follow_up("còn nếu không có NFC thì sao?")
        True
        """
        text = normalize(query).strip()
        words = text.split()
        if not 0 < len(words) <= FOLLOW_UP_MAX_WORDS:
            return False
        folded = fold(text)
        pattern = FOLLOW_UP_UNACCENTED if folded == text else FOLLOW_UP
        return bool(pattern.match(text)) or len(words) <= 4

    def _decide_text(self, text: str, context_topic: str | None, entities: list[Entity]) -> Decision:
        sig = self.signals(text)
        ranked, used_context, unit_scores = self.rank_signals(sig, self.thresholds, context_topic, entities)
        action, guide_ids = choose(ranked, self.thresholds) if normalize(text).strip() else ("abstain", [])
        if self.keyterms is not None and self.prefer_covering:
            action, guide_ids = prefer_covering(
                action, guide_ids, ranked, entities, self.coverage, self.thresholds.clarify_floor
            )
            action, guide_ids = rescue_named(action, guide_ids, ranked, entities, self.coverage, self.thresholds)
        decision = Decision(action, ranked, text, sig.restored, used_context, guide_ids, unit_scores, entities=entities)
        self._apply_check(decision)
        return decision

    def _apply_check(self, decision: Decision) -> None:
        if self.keyterms is None:
            return
        action, guide_ids, stopper, check = settle_check(
            decision.action, decision.guide_ids, decision.top, decision.entities, self.coverage
        )
        decision.action, decision.guide_ids, decision.check = action, guide_ids, check
        if stopper is not None and action == "abstain":
            decision.routed = Ranked(stopper.term.id, 0.0, 0.0, 0.0, "uncovered")

    def decide(self, query: str, context_topic: str | None = None) -> Decision:
        part = question_part(query) if self.use_question_part else ""
        entities = self.keyterms.extract(part or query) if self.keyterms is not None else []
        whole = self._decide_text(query, context_topic, entities)
        if not part:
            return whole
        asked = self._decide_text(part, context_topic, entities)
        # The question part may rescue a message the whole could not answer, never overrule an answer
        # or a routed abstention of the whole: cut from its story, the part loses what told the guides
        # apart ("… tài khoản mức 1 rồi, giờ muốn lên mức 2 … ra công an xã làm được không" asks
        # about level 2, its last clause alone reads as level 1).
        rescue = whole.action != "answer" and whole.route is None
        better = asked if rescue and _strength(asked) > _strength(whole) else whole
        better.query = query  # the whole story stays with the decision (handoff summary, best section)
        better.question_part = part
        better.scored_part = better is asked
        return better

    def best_section(self, decision: Decision, guide_id: str) -> int:
        """Index of the guide's section that best matches the decided question (-1: none).

        A "how do I…" question gets a small head start for sections with numbered steps: "quên
        mật khẩu thì làm sao" matches the section on *why* people forget as well as the steps,
        and the citizen needs the steps.
        """
        start, end = self._spans[self._guide_ids.index(guide_id)]
        candidates = [i for i in range(start, end) if self.index.units[i].kind == "section"]
        if not candidates:
            return -1
        scores = decision.unit_scores
        if scores is None:
            return self.index.units[candidates[0]].section
        guide = self.index.guides[guide_id]
        wants_steps = bool(HOW_TO.search(fold(decision.query)))

        def score(unit: int) -> float:
            section = guide.sections[self.index.units[unit].section]
            bonus = STEPS_BONUS if wants_steps and NUMBERED_STEP.search(section.text) else 0.0
            return float(scores[unit]) + bonus

        return self.index.units[max(candidates, key=score)].section
