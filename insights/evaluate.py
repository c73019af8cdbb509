"""How well the grouping separates topics: ``python -m insights.evaluate`` (the table in docs/insights.md).

Clusters labelled questions and compares with the labels, pair by pair: precision = share of the
pairs put in one group that have the same label; recall = share of the same-label pairs put in one
group. Two sets:

* ``routes``: the sample questions of knowledge/routing.yml (label: the routing entry), i.e.
  procedures with no guide, the kind of question the report groups;
* ``dev``: the answerable lines of the dev file (label: the expected guide), fine-grained neighbours;
* ``groups``: eval/groups.jsonl, questions about procedures no guide covers, written for this
  (label: the procedure), several procedures of one field worded alike.

Each method runs twice: on its vectors alone, and with the spaCy key terms (questions naming the
same key thing grouped, questions naming different ones kept apart: ``grouping.key_agreement``).

Usage::

    python -m insights.evaluate [--file ../shared/eval/dev.jsonl] [--lexical]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from insights.grouping import EmbeddingVectors, TfidfVectors, cluster

THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def pairwise(labels, gold) -> tuple[float, float]:
    """(precision, recall) of "same group" against "same label" over all pairs."""
    labels, gold = np.asarray(labels), np.asarray(gold)
    same_p = labels[:, None] == labels[None, :]
    same_g = gold[:, None] == gold[None, :]
    upper = np.triu(np.ones_like(same_p, dtype=bool), k=1)
    tp = np.sum(same_p & same_g & upper)
    predicted, actual = np.sum(same_p & upper), np.sum(same_g & upper)
    return (float(tp / predicted) if predicted else 1.0, float(tp / actual) if actual else 1.0)


def question_sets(
    knowledge: Path, dev_file: Path | None, extra: Path | None = None
) -> dict[str, tuple[list[str], list[str]]]:
    from retrieval.documents import load_guides

    guides, _ = load_guides(knowledge)
    routes = [(q, g.id) for g in guides if g.kind != "guide" for q in g.questions]
    sets = {"routes": ([q for q, _ in routes], [label for _, label in routes])}
    if dev_file and dev_file.exists():
        rows = [json.loads(line) for line in dev_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows = [r for r in rows if r.get("expect")]
        sets["dev"] = ([r["text"] for r in rows], [r["expect"] for r in rows])
    if extra and extra.exists():
        rows = [json.loads(line) for line in extra.read_text(encoding="utf-8").splitlines() if line.strip()]
        sets[extra.stem] = ([r["text"] for r in rows], [r["label"] for r in rows])
    return sets


def main(argv: list[str] | None = None) -> int:
    from core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m insights.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--file", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"
    )
    parser.add_argument("--lexical", action="store_true", help="TF-IDF only (no embedding model)")
    parser.add_argument(
        "--extra",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "eval" / "groups.jsonl",
        help='labelled unanswered questions, one {"text", "label"} per line',
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    methods = {"tfidf": TfidfVectors()}
    if not args.lexical:
        from retrieval.documents import load_guides
        from retrieval.encoders import load_encoder
        from retrieval.index import units_for
        from retrieval.restore import DiacriticRestorer

        encoder = load_encoder(settings.embedding_model)
        if encoder is None:
            print("embedding model unavailable: TF-IDF only", file=sys.stderr)
        else:
            guides, _ = load_guides(settings.knowledge_dir)
            restorer = DiacriticRestorer(
                [u.text for g in guides for u in units_for(g)] + [s.text for g in guides for s in g.sections]
            )
            methods["embeddings"] = EmbeddingVectors(encoder, restorer.restore)
    from retrieval.keyterms import SPECIFIC, load_keyterms

    keyterms = load_keyterms(settings.knowledge_dir)

    def key_things(text: str) -> frozenset[str]:
        return frozenset(e.term.id for e in keyterms.extract(text) if e.term.label in SPECIFIC)

    print("| set | method | threshold | groups | precision | recall |\n|---|---|---|---|---|---|")
    for set_name, (texts, gold) in question_sets(settings.knowledge_dir, args.file, args.extra).items():
        keys = [key_things(t) for t in texts]
        print(f"<!-- {set_name}: {sum(1 for k in keys if k)} of {len(texts)} questions name a key thing -->")
        for method, vectorize in methods.items():
            vectors = vectorize(texts)
            for variant, variant_keys in (("", None), ("+key terms", keys)):
                for threshold in THRESHOLDS:
                    labels = cluster(vectors, threshold, keys=variant_keys)
                    precision, recall = pairwise(labels, gold)
                    mark = " *" if threshold == vectorize.threshold else ""
                    print(
                        f"| {set_name} ({len(texts)}) | {method}{variant} | {threshold:.2f}{mark} | "
                        f"{labels.max() + 1} | {precision:.2f} | {recall:.2f} |"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
