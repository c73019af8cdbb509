"""Group similar questions: vectors, then average-linkage clustering on cosine similarity.

Two ways to turn questions into vectors (rows L2-normalised, so a dot product is a cosine):

* :class:`EmbeddingVectors`: the project's sentence-embedding model (EmbeddingGemma by default, the
  one the search uses), on the question with diacritics restored from the guides' vocabulary when a
  restorer is given (unaccented messages embed poorly otherwise). Groups paraphrases that share
  few words.
* :class:`TfidfVectors`: character 2-5-gram TF-IDF on accent-folded, abbreviation-expanded text
  (``core.text.normalize.fold``), fitted on the questions being grouped. No model needed; robust
  to missing diacritics and typos, but only groups questions that share words.

:func:`cluster` merges groups while the average similarity between their members stays at or
above a threshold (scipy average linkage, cut at ``1 - threshold`` cosine distance). Each vectoriser
carries the threshold that fitted it best on the dev set (docs/insights.md). Up to
:data:`MAX_PAIRWISE` distinct questions are clustered at once (memory grows with the square);
past that, the rarest questions are attached to their most similar already-grouped question when
it is similar enough, and the others are clustered in the next round.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.text.normalize import fold

MAX_PAIRWISE = 3000
# Masked numbers ("*******678"), redacted secrets and e-mails carry no meaning for grouping.
_NOISE = re.compile(r"\*+\d{0,3}|\[đã ẩn\]|\[email\]")
_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s.!?…,;:]+$")


def question_key(text: str) -> str:
    """The form two questions share when they are "the same question" (case, accents, spacing)."""
    return _TRAILING.sub("", _SPACES.sub(" ", fold(_NOISE.sub(" ", text or "")))).strip()


class TfidfVectors:
    """Character 2-5-gram TF-IDF of the folded questions (fitted on the questions themselves)."""

    name = "tfidf"
    threshold = 0.3  # best pairwise F1 on the dev set's answerable lines (docs/insights.md)

    def __call__(self, texts: Sequence[str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, preprocessor=question_key, dtype=np.float32
        )
        return vectorizer.fit_transform(list(texts))


class EmbeddingVectors:
    """Sentence embeddings from a :class:`retrieval.encoders.Encoder` (normalised output)."""

    threshold = 0.55  # pairwise precision 0.85 on routing.yml's questions with EmbeddingGemma (docs/insights.md)

    def __init__(self, encoder, restore: Callable[[str], str] | None = None, threshold: float | None = None):
        self.encoder = encoder
        self.restore = restore
        self.name = f"embedding:{getattr(encoder, 'model_id', 'model')}"
        if threshold is not None:
            self.threshold = threshold

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        cleaned = [_SPACES.sub(" ", _NOISE.sub(" ", t)).strip() for t in texts]
        if self.restore is not None:
            cleaned = [self.restore(t) for t in cleaned]
        vectors = np.asarray(self.encoder.encode_queries(cleaned), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def _dense(matrix) -> np.ndarray:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def _similarities(a, b) -> np.ndarray:
    return _dense(a @ b.T).astype(np.float32)


def key_agreement(keys: Sequence[frozenset[str]]) -> np.ndarray:
    """Pairwise agreement of the key things two questions name (spaCy, :mod:`retrieval.keyterms`).

    ``+1`` when both name a key thing and share one ("xin sổ đỏ" / "cấp giấy chứng nhận quyền sử dụng
    đất" both name the land-title procedure), ``-1`` when both name key things and share none (land
    title vs. building permit: different procedures however alike the wording), ``0`` when either
    names none.

    >>> key_agreement([frozenset({"a"}), frozenset({"a", "b"}), frozenset({"c"}), frozenset()]).tolist()
    [[0, 1, -1, 0], [1, 0, -1, 0], [-1, -1, 0, 0], [0, 0, 0, 0]]
    """
    ids = sorted(set().union(*keys)) if keys else []
    column = {key: j for j, key in enumerate(ids)}
    incidence = np.zeros((len(keys), len(ids)), dtype=np.float32)
    for i, named in enumerate(keys):
        for key in named:
            incidence[i, column[key]] = 1.0
    shared = (incidence @ incidence.T) > 0
    has = incidence.any(axis=1)
    out = np.where(shared, 1, np.where(has[:, None] & has[None, :], -1, 0)).astype(np.int8)
    np.fill_diagonal(out, 0)
    return out


def _agglomerative(vectors, threshold: float, keys: Sequence[frozenset[str]] | None = None) -> np.ndarray:
    n = vectors.shape[0]
    if n == 1:
        return np.zeros(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distances = 1.0 - _similarities(vectors, vectors)
    if keys is not None:
        agree = key_agreement(keys)
        # Naming the same key thing makes two questions at least as close as the threshold; naming
        # different ones keeps them apart (average linkage then rarely merges their groups).
        distances = np.where(agree > 0, np.minimum(distances, 1.0 - threshold), distances)
        distances = np.where(agree < 0, 2.0, distances)
    np.fill_diagonal(distances, 0.0)
    distances = np.clip((distances + distances.T) / 2, 0.0, 2.0).astype(np.float64)
    tree = linkage(squareform(distances, checks=False), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance") - 1


def cluster(
    vectors, threshold: float, max_pairwise: int = MAX_PAIRWISE, keys: Sequence[frozenset[str]] | None = None
) -> np.ndarray:
    """Cluster labels (0..k-1) for L2-normalised rows; rows should come most frequent first.

    Args:
        vectors: One row per distinct question (numpy or scipy sparse), L2-normalised.
        threshold: Minimum average cosine similarity inside a group.
        max_pairwise: Largest number of rows clustered at once.
        keys: Per row, the ids of the specific key things the question names (None: ignore them);
            see :func:`key_agreement`.

    Returns:
        An integer label per row.
    """
    n = vectors.shape[0]
    labels = np.full(n, -1, dtype=int)
    remaining = np.arange(n)
    grouped: list[int] = []
    next_label = 0
    while remaining.size:
        batch, rest = remaining[:max_pairwise], remaining[max_pairwise:]
        batch_keys = [keys[i] for i in batch] if keys is not None else None
        batch_labels = _agglomerative(vectors[batch], threshold, batch_keys) + next_label
        labels[batch] = batch_labels
        next_label = int(batch_labels.max()) + 1
        grouped.extend(batch.tolist())
        if not rest.size:
            break
        best = np.full(rest.size, -1.0, dtype=np.float32)
        nearest = np.zeros(rest.size, dtype=int)
        known = np.asarray(grouped)
        for start in range(0, rest.size, 512):
            sims = _similarities(vectors[rest[start : start + 512]], vectors[known])
            if keys is not None:
                block = rest[start : start + 512]
                agree = key_agreement([keys[i] for i in block] + [keys[k] for k in known])[: len(block), len(block) :]
                sims[agree < 0] = -1.0  # never attached to a question about another key thing
            nearest[start : start + 512] = known[sims.argmax(axis=1)]
            best[start : start + 512] = sims.max(axis=1)
        attach = best >= threshold
        labels[rest[attach]] = labels[nearest[attach]]
        remaining = rest[~attach]
    return labels


@dataclass
class Occurrence:
    """One recorded question (already masked by the store)."""

    text: str
    kind: str
    conversation: str
    day: str
    outcome: str | None = None
    guesses: list[dict] = field(default_factory=list)


@dataclass
class Group:
    """Similar questions: how often, by how many conversations, examples, what the bot did."""

    representative: str
    occurrences: list[Occurrence]
    examples: list[str]
    count: int  # distinct (conversation, question) pairs: one question abstained then handed off counts once
    conversations: int
    kinds: Counter
    first_day: str
    last_day: str
    top_guess: str | None = None  # the guide the bot most often ranked first for these questions
    closest: dict | None = None  # filled by the report: {id, title, score, route}

    @property
    def records(self) -> int:
        return len(self.occurrences)


def _diverse(order: list[int], sims: np.ndarray | None, count: int, pool: int = 20) -> list[int]:
    """The most central member, then the members least like those already chosen (among the ``pool``
    most central), so the examples show different ways of asking rather than near-copies."""
    chosen = order[:1]
    candidates = order[1:pool]
    while sims is not None and candidates and len(chosen) < count:
        best = min(candidates, key=lambda j: (max(sims[j, c] for c in chosen), order.index(j)))
        chosen.append(best)
        candidates.remove(best)
    return chosen


def group_questions(
    occurrences: list[Occurrence],
    vectorize: Callable[[Sequence[str]], object],
    threshold: float,
    max_examples: int = 3,
    key_things: Callable[[str], frozenset[str]] | None = None,
) -> list[Group]:
    """Group the occurrences by similar questions; biggest groups first.

    Args:
        occurrences: Recorded questions; empty texts are ignored.
        vectorize: Texts -> L2-normalised rows (:class:`TfidfVectors`, :class:`EmbeddingVectors`).
        threshold: Minimum average cosine similarity inside a group.
        max_examples: Distinct example questions kept per group.
        key_things: Text -> ids of the specific key things it names (spaCy key terms); questions
            naming the same one are grouped, questions naming different ones are kept apart.

    Returns:
        Groups sorted by count, then conversations, then representative.
    """
    by_key: dict[str, list[Occurrence]] = {}
    for occ in occurrences:
        key = question_key(occ.text)
        if key:
            by_key.setdefault(key, []).append(occ)
    if not by_key:
        return []
    keys = sorted(by_key, key=lambda k: (-len(by_key[k]), k))
    texts = [Counter(o.text for o in by_key[k]).most_common(1)[0][0] for k in keys]
    vectors = vectorize(texts)
    named = [key_things(t) for t in texts] if key_things is not None else None
    labels = cluster(vectors, threshold, keys=named)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(int(label), []).append(i)
    groups = []
    for rows in members.values():
        weights = np.array([len(by_key[keys[i]]) for i in rows], dtype=np.float32)
        sims = _similarities(vectors[rows], vectors[rows]) if len(rows) > 1 else None
        if sims is not None:
            centrality = sims @ weights  # how like the others, weighted by how often each was asked
            order = sorted(range(len(rows)), key=lambda j: (-centrality[j], -weights[j], texts[rows[j]]))
        else:
            order = [0]
        examples = _diverse(order, sims, max_examples)
        occs = [o for i in rows for o in by_key[keys[i]]]
        guesses = Counter(o.guesses[0]["id"] for o in occs if o.guesses and o.guesses[0].get("id"))
        groups.append(
            Group(
                representative=texts[rows[order[0]]],
                occurrences=occs,
                examples=[texts[rows[j]] for j in examples],
                count=len({(o.conversation, question_key(o.text)) for o in occs}),
                conversations=len({o.conversation for o in occs}),
                kinds=Counter(o.kind if o.kind != "feedback" else f"feedback_{o.outcome}" for o in occs),
                first_day=min(o.day for o in occs),
                last_day=max(o.day for o in occs),
                top_guess=guesses.most_common(1)[0][0] if guesses else None,
            )
        )
    groups.sort(key=lambda g: (-g.count, -g.conversations, g.representative))
    return groups
