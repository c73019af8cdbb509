"""Benchmark the search in one process: ranking quality per signal, decision quality, latency,
index build time and memory, on the published index with the configured model.

    python -m evaluation.benchmark --file ../shared/eval/dev.jsonl [--out docs/benchmark.md] [--quick]

Why: the hybrid search pays for an embedding model (RAM, milliseconds per question, minutes per
full build). This puts the numbers that justify it, or not, side by side, measured in one run on
one machine so they can be compared:

* ranking (answerable lines only): the Searcher's lexical signal alone, its dense signal alone,
  the fused score with the calibrated weights (what the bot uses), and a plain BM25 baseline that
  needs no model at all. Every method ranks guides *and* routing entries, as the bot does, so a
  routing entry ranked above the expected guide counts against it;
* the answer / clarify / abstain decision of :meth:`Searcher.decide` on all lines, scored by
  :func:`evaluation.evaluate.score`, the same numbers ``make eval`` prints;
* warm per-question latency of ``decide()`` (and, for scale, of lexical-only and BM25 search);
* a full index build into a temporary folder with an empty embedding cache (what a fresh clone
  pays), then an incremental rebuild with nothing changed (what every ``make index`` pays);
* resident memory after loading the model and the index (what the action server holds).

Numbers are printed, never asserted: timing depends on the machine and what else runs on it.
``scripts/bench_bot.py`` measures the same through the running bot.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.settings import env_override, load_settings
from core.text.normalize import fold
from evaluation.bench_report import (
    Section,
    common_facts,
    load_average,
    load_fact,
    ms,
    peak_rss_mb,
    percentiles,
    proc_status_kb,
    report_markdown,
    table,
    write_report,
)
from evaluation.evaluate import Outcome, read_lines, score
from retrieval.index import Index, build_index
from retrieval.decision import Thresholds
from retrieval.search import Searcher

# Guides copied for the --quick build: enough to show the per-unit rate (~150 units) in well
# under a minute on 2 cores, where the full build with an empty cache takes about ten.
QUICK_GUIDES = 5
RANK_KEYS = ("recall_at_1", "recall_at_3", "mrr")
DECISION_KEYS = (
    "correct",
    "wrong",
    "clarify_hit",
    "clarify_miss",
    "abstained",
    "null_abstained",
    "null_clarified",
    "null_answered",
    "wrong_of_all",
)
SYLLABLE = re.compile(r"\w+")


# --------------------------------------------------------------------------------------------
# BM25 baseline
# --------------------------------------------------------------------------------------------


def bm25_tokens(text: str) -> list[str]:
    """Accent-folded syllables plus syllable bigrams: Vietnamese words are mostly two syllables
    ("đăng ký", "căn cước"), so bigrams stand in for a word segmenter."""
    syllables = SYLLABLE.findall(fold(text))
    return syllables + [f"{a}_{b}" for a, b in itertools.pairwise(syllables)]


class BM25Baseline:
    """BM25Okapi over the index's units; a guide scores its best unit. No model, no tuning."""

    def __init__(self, index: Index):
        from rank_bm25 import BM25Okapi

        self._bm25 = BM25Okapi([bm25_tokens(u.text) for u in index.units])
        self._guide_ids = sorted(index.guides)
        position = {g: i for i, g in enumerate(self._guide_ids)}
        self._unit_guide = np.array([position[u.guide_id] for u in index.units])

    def rank(self, query: str) -> list[str]:
        scores = self._bm25.get_scores(bm25_tokens(query))
        best = np.full(len(self._guide_ids), -np.inf)
        np.maximum.at(best, self._unit_guide, scores)
        return [self._guide_ids[i] for i in np.argsort(-best, kind="stable")]


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


def ranking_methods(searcher: Searcher) -> dict[str, Thresholds | None]:
    """Method name -> fusion weights over the Searcher's signals (None: BM25, no Searcher)."""
    t = searcher.thresholds
    methods: dict[str, Thresholds | None] = {
        "lexical (TF-IDF char 2-5-grams)": dataclasses.replace(t, dense_weight=0.0)
    }
    if searcher.dense_enabled:
        methods["dense (embeddings)"] = dataclasses.replace(t, dense_weight=1.0)
    methods[f"hybrid (dense weight {t.dense_weight:g})"] = t
    methods["BM25 baseline (syllables + bigrams)"] = None
    return methods


def compare_rankings(searcher: Searcher, bm25: BM25Baseline, lines: list[dict]) -> dict[str, list[list[str]]]:
    """Ranking (guide ids, best first) of every line by every method; signals computed once."""
    methods = ranking_methods(searcher)
    rankings: dict[str, list[list[str]]] = {name: [] for name in methods}
    for item in lines:
        sig = searcher.signals(item["text"])
        for name, weights in methods.items():
            if weights is None:
                rankings[name].append(bm25.rank(item["text"]))
            else:
                ranked = searcher.rank_signals(sig, weights)[0]
                rankings[name].append([r.guide_id for r in ranked])
    return rankings


def ranking_scores(lines: list[dict], rankings: list[list[str]]) -> dict:
    """Recall@1/@3 and MRR via evaluate.score (the action is irrelevant to those three)."""
    return score(lines, [Outcome("other", [], ranking) for ranking in rankings])


def time_calls(call: Callable[[str], object], texts: list[str], passes: int) -> tuple[list[float], list[object]]:
    """Milliseconds per call over ``passes`` passes after one warm-up call; results of pass one."""
    call(texts[0])  # warm-up: the first call pays lazy set-up (tokenizer, torch kernels, caches)
    times, first = [], []
    for number in range(passes):
        for text in texts:
            start = time.perf_counter()
            result = call(text)
            times.append((time.perf_counter() - start) * 1000)
            if number == 0:
                first.append(result)
    return times, first


def time_builds(knowledge_dir: Path, encoder, quick: bool) -> dict:
    """Full build with an empty embedding cache, then a rebuild with nothing changed.

    Both go to a temporary folder; XDG_CACHE_HOME points there too, so the real embedding cache
    is neither used nor touched. The already loaded encoder is reused: model loading is measured
    separately, and the configured model's path (under the real cache folder) stays valid.
    """
    with tempfile.TemporaryDirectory(prefix="dvc-benchmark-") as tmp_name:
        tmp = Path(tmp_name)
        source = knowledge_dir
        if quick:
            source = tmp / "knowledge"
            source.mkdir()
            guides = sorted(p for p in knowledge_dir.glob("*.md") if p.name.lower() != "readme.md")
            for path in guides[:QUICK_GUIDES]:
                shutil.copy2(path, source / path.name)
        with env_override("XDG_CACHE_HOME", str(tmp / "cache")):
            result, previous = {}, None
            for label in ("full", "incremental"):
                start = time.perf_counter()
                build, _problems = build_index(source, tmp / "index", encoder, log=lambda _message: None)
                seconds = time.perf_counter() - start
                if build is None:
                    raise RuntimeError(f"no index could be built from {source}")
                meta = json.loads((build / "meta.json").read_text(encoding="utf-8"))
                published = build != previous
                embedded, reused = meta["embedded"], meta["reused"]
                if not published:
                    # Up to date: build_index kept the served build, whose meta describes the full
                    # build. Same texts, same model: every vector came from the cache just written.
                    embedded, reused = 0, meta["embedded"] + meta["reused"]
                result[label] = {
                    "seconds": seconds,
                    "units": meta["units"],
                    "guides": meta["guides"],
                    "embedded": embedded,
                    "reused": reused,
                    "published": published,
                }
                previous = build
    return result


# --------------------------------------------------------------------------------------------
# Report sections
# --------------------------------------------------------------------------------------------


def ranking_sections(lines: list[dict], rankings: dict[str, list[list[str]]]) -> list[Section]:
    answerable = [item for item in lines if item["expect"] is not None]
    rows = []
    for name, ranks in rankings.items():
        result = ranking_scores(answerable, ranks)
        rows.append([name] + [f"{result[k]:.3f}" for k in RANK_KEYS])
    overall = table(["method", "recall@1", "recall@3", "MRR"], rows)
    kinds = sorted({item["kind"] for item in answerable})
    kind_rows = []
    for name, ranks in rankings.items():
        cells = [name]
        for kind in kinds:
            pairs = [(i, r) for i, r in zip(answerable, ranks) if i["kind"] == kind]
            cells.append(f"{ranking_scores([p[0] for p in pairs], [p[1] for p in pairs])['recall_at_1']:.3f}")
        kind_rows.append(cells)
    counts = {k: sum(i["kind"] == k for i in answerable) for k in kinds}
    by_kind = table(["method"] + [f"{k} ({counts[k]})" for k in kinds], kind_rows)
    note = (
        f"{len(answerable)} answerable lines. Lexical, dense and hybrid are the Searcher's own signals "
        "aggregated per guide the same way (calibrated top_k); routing entries rank alongside guides."
    )
    return [("Ranking (answerable lines)", f"{note}\n\n{overall}"), ("Recall@1 by kind of line", by_kind)]


def decision_section(lines: list[dict], decisions: list) -> Section:
    outcomes = [Outcome(d.action, d.guide_ids, [r.guide_id for r in d.ranked]) for d in decisions]
    result = score(lines, outcomes)
    rows = [[key, f"{result[key]:.3f}"] for key in DECISION_KEYS]
    note = (
        f"Searcher.decide() on all {result['lines']} lines ({result['answerable']} answerable, "
        f"{result['null']} with no guide to answer from); shares of answerable lines, null_* of null "
        "lines, wrong_of_all of all lines. Local mode: greetings and requests for a person reach the "
        "search too, which Rasa's NLU handles first in the running bot."
    )
    return "Hybrid decision (answer / clarify / abstain)", f"{note}\n\n{table(['metric', 'value'], rows)}"


def latency_section(rows: list[tuple[str, list[float]]], passes: int, lines: int, threads: str) -> Section:
    body = []
    for name, times in rows:
        p = percentiles(times)
        body.append([name, p["n"], ms(p["p50"]), ms(p["p95"]), ms(p["max"])])
    note = (
        f"Warm, in one process, one warm-up call first; {passes} passes over all {lines} lines, "
        f"sequential; torch threads: {threads}."
    )
    return "Latency per question (ms)", f"{note}\n\n{table(['call', 'calls', 'p50', 'p95', 'max'], body)}"


def build_section(builds: dict, quick: bool) -> Section:
    full, again = builds["full"], builds["incremental"]
    rows = [
        [
            "full, empty embedding cache",
            full["guides"],
            full["units"],
            full["embedded"],
            "new build",
            f"{full['seconds']:.1f}",
            f"{full['units'] / full['seconds']:.1f}",
        ],
        [
            "incremental, nothing changed",
            again["guides"],
            again["units"],
            again["embedded"],
            "new build" if again["published"] else "kept (up to date)",
            f"{again['seconds']:.2f}",
            f"{again['units'] / again['seconds']:.0f}",
        ],
    ]
    scope = f"the first {QUICK_GUIDES} guides (--quick)" if quick else "all guides"
    note = (
        f"Into a temporary folder from {scope}, with the already loaded model; embedded counts "
        "distinct texts not found in the cache."
    )
    headers = ["build", "guides", "units", "embedded", "published", "seconds", "units/s"]
    return "Index build", f"{note}\n\n{table(headers, rows)}"


def memory_section(memory: dict[str, float]) -> Section:
    rows = [[name, f"{value:.0f}"] for name, value in memory.items()]
    return "Memory (MB)", table(["measure", "MB"], rows)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(
        description="Benchmark lexical / dense / hybrid / BM25 search, latency, build time and memory"
    )
    parser.add_argument("--file", type=Path, required=True, help="labelled JSONL, e.g. ../shared/eval/dev.jsonl")
    parser.add_argument("--out", type=Path, help="also write the report as Markdown here")
    parser.add_argument("--quick", action="store_true", help=f"time the full build on {QUICK_GUIDES} guides only")
    # Two passes: enough samples for a stable p95 over ~160 lines without doubling the run time again.
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the file (default 2)")
    parser.add_argument("--index", type=Path, default=settings.index_dir)
    parser.add_argument("--knowledge", type=Path, default=settings.knowledge_dir)
    parser.add_argument("--model", default=settings.embedding_model)
    args = parser.parse_args(argv)
    command = "python -m evaluation.benchmark " + shlex.join(sys.argv[1:] if argv is None else argv)
    load_at_start = load_average()
    lines = read_lines(args.file)
    if not lines:
        raise SystemExit(f"{args.file}: no lines")

    from retrieval.service import SearchService

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    memory = {"RSS before loading (imports only)": proc_status_kb() / 1024}
    service = SearchService(dataclasses.replace(settings, index_dir=args.index, embedding_model=args.model))
    start = time.perf_counter()
    encoder = service.encoder
    model_seconds = time.perf_counter() - start
    start = time.perf_counter()
    searcher = service.searcher()
    index_seconds = time.perf_counter() - start
    memory["RSS after loading model + index"] = proc_status_kb() / 1024
    torch = sys.modules.get("torch")
    threads = str(torch.get_num_threads()) if torch else "n/a (no torch)"
    meta = searcher.index.meta
    facts = common_facts(command) + [
        ("embedding model", encoder.model_id if encoder else "none (lexical only)"),
        (
            "index",
            (
                f"{searcher.index.path.name}: {meta.get('guides')} guides, {meta.get('routes', 0)} routing "
                f"entries, {len(searcher.index.units)} units"
            ),
        ),
        ("thresholds", ", ".join(f"{k}={v:g}" for k, v in dataclasses.asdict(searcher.thresholds).items())),
        ("load time", f"model {model_seconds:.1f} s, index + searcher {index_seconds:.1f} s"),
        ("torch threads", threads),
    ]
    print("\n".join(f"{k}: {v}" for k, v in facts))
    sections: list[Section] = []

    def show(section: Section) -> None:
        sections.append(section)
        print(f"\n## {section[0]}\n\n{section[1]}", flush=True)

    say("ranking every line with every method ...")
    bm25 = BM25Baseline(searcher.index)
    answerable = [item for item in lines if item["expect"] is not None]
    for section in ranking_sections(lines, compare_rankings(searcher, bm25, answerable)):
        show(section)

    say(f"timing decide() over {args.passes} passes ...")
    texts = [item["text"] for item in lines]
    hybrid_ms, decisions = time_calls(searcher.decide, texts, args.passes)
    memory["RSS after the timed questions (serving)"] = proc_status_kb() / 1024
    show(decision_section(lines, decisions))
    lexical_only = Searcher(searcher.index, None, searcher.thresholds)
    lexical_ms, _ = time_calls(lexical_only.decide, texts, args.passes)
    bm25_ms, _ = time_calls(bm25.rank, texts, args.passes)
    show(
        latency_section(
            [
                ("Searcher.decide() as served (hybrid)", hybrid_ms),
                ("Searcher.decide() without a model (lexical)", lexical_ms),
                ("BM25 baseline ranking", bm25_ms),
            ],
            args.passes,
            len(lines),
            threads,
        )
    )

    say("building the index from scratch in a temporary folder (minutes without --quick) ...")
    show(build_section(time_builds(args.knowledge, encoder, args.quick), args.quick))
    memory["peak RSS of the whole run (incl. build)"] = peak_rss_mb()
    show(memory_section(memory))
    facts.append(load_fact(load_at_start))
    print(f"\n{facts[-1][0]}: {facts[-1][1]}")

    if args.out:
        write_report(args.out, report_markdown("Search benchmark", facts, sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
