"""A learned danger recogniser: "is someone in danger, or is a scam happening, right now?".

The patterns of :mod:`dialogue.situations` know the words we listed; citizens describe a danger in
their own words ("nó cầm cây rựa đứng trước cổng", "bố tự nhiên nói ngọng, nửa người không nhấc lên
được"). This module adds a small classifier on the search's own sentence embedding
(EmbeddingGemma): a multinomial logistic regression trained on ``dialogue/situations-train.jsonl``
(own-words examples per situation, and many ordinary questions that use danger-like words:
"cháy pin điện thoại", "chuyển khoản lệ phí", questions *about* scams, things that happened last
year), plus the prototypes and ordinary questions of :mod:`dialogue.situations`.

* ``python -m dialogue.danger build`` (run by ``make index``) embeds the training texts (cached by
  text in ``~/.cache/tro-ly-dvc/embeddings``), fits the model and writes
  ``models/situations.npz`` with the model id and a hash of the data; a rebuild with the same data
  and model is skipped.
* ``python -m dialogue.danger evaluate`` reports recall per situation and false alarms on the
  held-back ``eval/situations-holdout.jsonl`` (never trained on), for the classifier, the patterns
  and both together.
* At run time :class:`DangerClassifier` scores the message's query embedding (one matrix product);
  a situation is recognised when its probability passes the threshold chosen by cross-validation on
  the training file (high recall: a false alarm costs one extra message, the question is still
  answered; a missed emergency costs far more).

Labels: ``threat``, ``otp_now``, ``transfer_now`` (the danger situations of
:mod:`dialogue.situations`) and ``medical``, ``fire_rescue``, ``self_harm`` (emergencies told
without the words of ``core/safety.py``), or ``none``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TRAIN_FILE = HERE / "situations-train.jsonl"
HOLDOUT_FILE = HERE.parent / "eval" / "situations-holdout.jsonl"
MODEL_NAME = "situations.npz"
LABELS = ("threat", "otp_now", "transfer_now", "medical", "fire_rescue", "self_harm")
NONE = "none"
# Emergency numbers per learned situation (the pattern situations choose theirs in the action).
SERVICES = {
    "threat": ["113"],
    "otp_now": ["113"],
    "transfer_now": ["113"],
    "medical": ["115"],
    "fire_rescue": ["114"],
    "self_harm": ["115", "113"],
}
FORMAT = 1
# Candidate thresholds for P(danger) = 1 - P(none); the chosen one keeps cross-validated recall
# at or above TARGET_RECALL with the fewest false alarms.
THRESHOLDS = tuple(round(x, 2) for x in np.arange(0.20, 0.91, 0.05))
TARGET_RECALL = 0.95


def read_examples(path: Path) -> list[tuple[str, str]]:
    """``(text, label)`` pairs of a JSONL file; bad lines are reported and skipped."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, label = str(row["text"]).strip(), str(row["label"]).strip()
        except (ValueError, KeyError, TypeError):
            log.warning('%s:%d: not a {"text", "label"} line, skipped', path, number)
            continue
        if label not in LABELS and label != NONE:
            log.warning("%s:%d: unknown label %r, skipped", path, number, label)
            continue
        if text:
            out.append((text, label))
    return out


def builtin_examples() -> list[tuple[str, str]]:
    """The prototypes and ordinary questions written in :mod:`dialogue.situations`."""
    from dialogue.situations import NEGATIVES, PROTOTYPES

    out = [(t, name if name in LABELS else NONE) for name, texts in PROTOTYPES.items() for t in texts]
    return out + [(t, NONE) for t in NEGATIVES]


def _data_hash(examples: list[tuple[str, str]], model_id: str) -> str:
    digest = hashlib.sha256(f"v{FORMAT}|{model_id}".encode())
    for text, label in examples:
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:16]


def embed(texts: list[str], encoder, restore=None) -> np.ndarray:
    """Query embeddings of ``texts`` (diacritics restored like the search does), cached by text."""
    from core.settings import cache_root
    from retrieval.index import EmbeddingCache

    restore = restore or (lambda t: t)
    cache = EmbeddingCache(cache_root() / "embeddings", f"{encoder.model_id}-queries")
    return cache.lookup([restore(t) for t in texts], encoder.encode_queries)[0]


@dataclass
class DangerClassifier:
    """Multinomial logistic regression over L2-normalised query embeddings."""

    classes: tuple[str, ...]
    coef: np.ndarray  # (classes, dimension)
    intercept: np.ndarray  # (classes,)
    threshold: float
    model_id: str
    data_hash: str = ""

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = np.atleast_2d(vectors) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, vector: np.ndarray) -> tuple[str | None, float]:
        """(situation or None, P(danger)) for one query embedding."""
        probs = self.probabilities(vector)[0]
        none = self.classes.index(NONE)
        danger = 1.0 - float(probs[none])
        if danger < self.threshold:
            return None, danger
        best = max((i for i in range(len(self.classes)) if i != none), key=lambda i: probs[i])
        return self.classes[best], danger

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            classes=np.array(self.classes),
            coef=self.coef,
            intercept=self.intercept,
            threshold=np.array(self.threshold),
            model_id=np.array(self.model_id),
            data_hash=np.array(self.data_hash),
            format=np.array(FORMAT),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DangerClassifier | None:
        """The saved model, or None (logged) when it is missing or unreadable: patterns still work."""
        try:
            with np.load(path) as data:
                if int(data["format"]) != FORMAT:
                    raise ValueError(f"format {int(data['format'])}")
                return cls(
                    tuple(str(c) for c in data["classes"]),
                    data["coef"].astype(np.float32),
                    data["intercept"].astype(np.float32),
                    float(data["threshold"]),
                    str(data["model_id"]),
                    str(data["data_hash"]),
                )
        except FileNotFoundError:
            log.warning("situations: no learned danger model at %s (run `make index`); patterns only", path)
        except (OSError, ValueError, KeyError) as exc:
            log.error("situations: unreadable danger model %s (%s); patterns only", path, exc)
        return None


def fit(vectors: np.ndarray, labels: list[str], c: float = 4.0) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit(vectors, labels)
    coef, intercept = model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    if len(model.classes_) == 2:  # sklearn keeps one row for two classes: softmax([0, z]) = sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([np.zeros_like(intercept), intercept])
    return tuple(str(x) for x in model.classes_), coef, intercept


def choose_threshold(vectors: np.ndarray, labels: list[str], folds: int = 5, seed: int = 7) -> tuple[float, dict]:
    """Cross-validated P(danger) threshold: recall ≥ TARGET_RECALL with the fewest false alarms."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    danger_prob = np.zeros(len(labels), dtype=np.float32)
    y = np.array(labels)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        classes, coef, intercept = fit(vectors[train], list(y[train]))
        model = DangerClassifier(classes, coef, intercept, 0.5, "")
        danger_prob[test] = 1.0 - model.probabilities(vectors[test])[:, classes.index(NONE)]
    is_danger = y != NONE
    table = {}
    for t in THRESHOLDS:
        flagged = danger_prob >= t
        table[t] = (float(flagged[is_danger].mean()), float(flagged[~is_danger].mean()))
    ok = [t for t, (recall, _) in table.items() if recall >= TARGET_RECALL]
    chosen = max(ok) if ok else min(THRESHOLDS)
    return chosen, table


def model_path(index_dir: Path) -> Path:
    return Path(index_dir).parent / MODEL_NAME


def build(force: bool = False) -> int:
    from core.settings import load_settings
    from retrieval.encoders import load_encoder

    settings = load_settings()
    path = model_path(settings.index_dir)
    if not TRAIN_FILE.exists():
        print(f"situations: {TRAIN_FILE} missing; the danger model is not built (patterns only)")
        return 0
    examples = read_examples(TRAIN_FILE) + builtin_examples()
    encoder = load_encoder(settings.embedding_model)
    if encoder is None:
        print("situations: no embedding model; the danger model is not built (patterns only)")
        return 0
    data_hash = _data_hash(examples, encoder.model_id)
    old = DangerClassifier.load(path) if path.exists() else None
    if old is not None and old.data_hash == data_hash and not force:
        print(f"situations: {path} is up to date ({len(examples)} examples)")
        return 0
    restore = _restorer(settings)
    vectors = embed([t for t, _ in examples], encoder, restore)
    labels = [label for _, label in examples]
    threshold, table = choose_threshold(vectors, labels)
    classes, coef, intercept = fit(vectors, labels)
    DangerClassifier(classes, coef, intercept, threshold, encoder.model_id, data_hash).save(path)
    recall, alarms = table[threshold]
    print(
        f"situations: {len(examples)} examples, threshold {threshold:.2f} (cross-validated recall {recall:.3f}, "
        f"false alarms {alarms:.3f}) -> {path}"
    )
    return 0


def _restorer(settings):
    """The search's diacritics restorer, from the published index (None without one)."""
    try:
        from retrieval.service import get_service

        return get_service().searcher()._restorer.restore  # same restoration as the search
    except Exception:  # noqa: BLE001 - unaccented text still embeds, less well
        log.warning("situations: no published index, diacritics not restored")
        return None


def evaluate(file: Path) -> int:
    """Recall per situation and false alarms on ``file``: classifier, patterns, both."""
    from core.settings import load_settings
    from dialogue.situations import DANGER, match_patterns
    from core.safety import urgent_services
    from retrieval.encoders import load_encoder

    settings = load_settings()
    model = DangerClassifier.load(model_path(settings.index_dir))
    encoder = load_encoder(settings.embedding_model)
    if model is None or encoder is None:
        print("no danger model or no embedding model: run `make index` first", file=sys.stderr)
        return 1
    examples = read_examples(file)
    vectors = embed([t for t, _ in examples], encoder, _restorer(settings))
    rows = []
    for (text, label), vector in zip(examples, vectors):
        learned, _ = model.predict(vector)
        pattern = match_patterns(text) in DANGER or bool(urgent_services(text))
        rows.append((label, learned is not None, pattern))
    print(f"{file}: {len(rows)} lines, threshold {model.threshold:.2f}\n")
    print("| label | lines | classifier | patterns | both |\n|---|---|---|---|---|")
    for label in (*LABELS, NONE):
        part = [r for r in rows if r[0] == label]
        if not part:
            continue
        shares = [sum(r[i] for r in part) / len(part) for i in (1, 2)]
        both = sum(r[1] or r[2] for r in part) / len(part)
        name = f"{label} (false alarms)" if label == NONE else label
        print(f"| {name} | {len(part)} | {shares[0]:.1%} | {shares[1]:.1%} | {both:.1%} |")
    danger = [r for r in rows if r[0] != NONE]
    if danger:
        shares = [sum(r[1] for r in danger), sum(r[2] for r in danger), sum(r[1] or r[2] for r in danger)]
        print(f"| **all danger** | {len(danger)} | " + " | ".join(f"{n / len(danger):.1%}" for n in shares) + " |")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dialogue.danger", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="fit the danger model (models/situations.npz)")
    b.add_argument("--force", action="store_true")
    e = sub.add_parser("evaluate", help="recall and false alarms on a labelled file")
    e.add_argument("--file", type=Path, default=HOLDOUT_FILE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if args.command == "build":
        return build(args.force)
    return evaluate(args.file)


if __name__ == "__main__":
    sys.exit(main())
