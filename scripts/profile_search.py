"""Where the action server's time goes per question: CPU per message and a cProfile breakdown.

    .venv-actions/bin/python scripts/profile_search.py [--file eval/own.jsonl] [--no-cache]

Runs what the answer action runs for each line's text (situation check, then the search's decision)
on the published index, and prints CPU milliseconds per message (time.process_time, less sensitive
than wall time to other work on the machine) and the cumulative time of the main parts. Numbers are
printed, never asserted (docs/scale.md).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARTS = {
    "embedding": "encoders.py:encode_queries",
    "TF-IDF": "text.py:transform",
    "diacritics": "restore.py:restore",
    "spaCy key terms": "keyterms.py:extract",
    "situation check": "situations.py:recognize",
    "search decision": "search.py:decide",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT / "eval" / "own.jsonl")
    parser.add_argument("--no-cache", action="store_true", help="embed every text again (no query-vector cache)")
    args = parser.parse_args(argv)
    from actions.answer import situation_model
    from retrieval.service import get_service

    texts = [json.loads(line)["text"] for line in args.file.read_text(encoding="utf-8").splitlines() if line.strip()]
    searcher, situations = get_service().searcher(), situation_model()
    for text in texts[:3]:  # load everything lazy first
        situations.recognize(text)
        searcher.decide(text)
    cache = getattr(searcher.encoder, "cache", None)
    if cache is not None:
        cache._vectors.clear()
        cache.size = 0 if args.no_cache else cache.size
    profile = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    profile.enable()
    for text in texts:
        situations.recognize(text)
        searcher.decide(text)
    profile.disable()
    n = len(texts)
    print(
        f"{n} messages from {args.file.name}: CPU {(time.process_time() - cpu) / n * 1000:.0f} ms per message, "
        f"wall {(time.perf_counter() - wall) / n * 1000:.0f} ms (cache {'off' if args.no_cache else 'on'})"
    )
    stats = pstats.Stats(profile).stats
    for name, key in PARTS.items():
        seconds = sum(v[3] for k, v in stats.items() if key in f"{k[0]}:{k[2]}")
        print(f"  {name:<16} {seconds / n * 1000:7.1f} ms per message (cumulative, wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
