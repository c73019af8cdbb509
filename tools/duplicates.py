"""Near-duplicate sample questions across guides and routing entries (``python -m tools.check``)."""

from __future__ import annotations

import re

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from core.text.normalize import fold

from tools.check_files import NEAR_DUPLICATE, QuestionRef

_PUNCTUATION = re.compile(r"[^\w\s]")


def _comparable(text: str) -> str:
    """Accent-folded, abbreviation-expanded text without punctuation (a "?" is not a difference)."""
    return " ".join(_PUNCTUATION.sub(" ", fold(text)).split())


def near_duplicates(
    questions: list[QuestionRef], threshold: float = NEAR_DUPLICATE
) -> list[tuple[QuestionRef, QuestionRef, float]]:
    """Pairs of sample questions of different owners whose lexical similarity is >= ``threshold``.

    In each pair the first question is the likely misplaced one: the one that resembles its own
    guide less (mean of its 3 best matches among the guide's title with summary and its other
    sample questions), so the warning is shown where it should be fixed.

    Args:
        questions: All sample questions.
        threshold: Cosine of accent-folded character 2-5-gram TF-IDF vectors (see
            :data:`NEAR_DUPLICATE`).

    Returns:
        ``(misplaced, other, similarity)``, most similar first.
    """
    if len(questions) < 2:
        return []
    topics = sorted({q.topic for q in questions if q.topic})
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, preprocessor=_comparable, dtype=np.float32
    )
    try:
        vectorizer.fit([q.text for q in questions])
    except ValueError:  # nothing but empty text
        return []
    matrix = vectorizer.transform([q.text for q in questions])
    similarity = (matrix @ matrix.T).toarray()
    to_topic = (matrix @ vectorizer.transform(topics).T).toarray() if topics else None
    topic_index = {t: k for k, t in enumerate(topics)}
    owners = np.array([q.owner for q in questions])

    def fit(i: int) -> float:
        scores = similarity[i][(owners == owners[i]) & (np.arange(len(questions)) != i)]
        if questions[i].topic and to_topic is not None:
            scores = np.append(scores, to_topic[i, topic_index[questions[i].topic]])
        return float(np.sort(scores)[-3:].mean()) if len(scores) else 0.0

    pairs = []
    for i, j in zip(*np.nonzero(np.triu(similarity >= threshold - 1e-6, k=1))):
        if owners[i] == owners[j]:
            continue
        a, b = sorted((int(i), int(j)), key=lambda k: (fit(k), questions[k].path, questions[k].line))
        pairs.append((questions[a], questions[b], float(min(similarity[i, j], 1.0))))
    return sorted(pairs, key=lambda p: (-p[2], p[0].path, p[0].line))
