"""Benchmark the dense index (retrieval/dense.py) from the real collection to a national catalogue.

    python -m evaluation.faiss_benchmark [--sizes 1k,10k,100k,1m] [--queries 200] [--out docs/benchmark.md]

For each collection size and each structure (exact ``IndexFlatIP``, ``HNSW`` as built by
:func:`retrieval.dense.build`, and ``IVF`` for comparison) it prints: build time, the size of the
saved index, the resident memory the process gains when it opens the file memory-mapped and
answers the queries, single-query latency p50/p95 (batch of 1, as the action server asks), and
recall@10 against the exact search.

The smallest size is the real published index (its unit vectors, ~1.3k units); larger ones are
synthetic: each a real unit vector plus a random share of another and Gaussian noise, renormalised,
so the collection keeps the real one's clustered shape but spreads between its clusters (pure random
vectors would make approximate search look worse than on text embeddings, plain copies of real
units better). Queries are drawn the same way. Nothing is asserted: the numbers depend on the
machine and on what else runs on it; ``tests/retrieval/test_dense.py`` checks the behaviour.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from retrieval import dense
from evaluation.bench_report import KEPT_BLOCK, machine_info, percentiles, proc_status_kb, splice_block, table

MARK_START, MARK_END = KEPT_BLOCK
# Noise added to a real unit vector to make a synthetic one (relative to its unit norm): at 0.6 a
# synthetic unit's nearest real unit has cosine ~0.85, like a paraphrase in the real collection.
NOISE = 0.6
# Up to this share of a second real unit is mixed into each synthetic one.
MIX = 0.7
# IVF for comparison: about 4·sqrt(n) lists, 32 of them probed per query (the usual starting point).
IVF_NPROBE = 32
SIZES = {"1k": 0, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}  # 0: the real collection


def real_vectors(index_dir: Path | None) -> np.ndarray:
    """The published index's unit vectors, or a stand-in of the same shape if there is none."""
    from retrieval.index import IndexLoadError, load_index

    try:
        from core.settings import load_settings

        index = load_index(index_dir or load_settings().index_dir)
        if index.vectors is not None:
            return np.ascontiguousarray(index.vectors, dtype=np.float32)
    except (IndexLoadError, OSError) as exc:
        print(f"no published index with vectors ({exc}); using random 768-dim vectors", file=sys.stderr)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1254, 768)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def perturbed(base: np.ndarray, count: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """``count`` unit vectors, each a real one, a random share of another real one, and noise.

    The mix of two units spreads the synthetic collection between the real clusters, so a query's
    neighbours are not just copies of one real unit (which would flatter approximate search).
    Built in chunks to bound memory.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((count, base.shape[1]), dtype=np.float32)
    scale = NOISE / np.sqrt(base.shape[1])
    for start in range(0, count, chunk):
        end = min(count, start + chunk)
        share = rng.uniform(0.0, MIX, (end - start, 1)).astype(np.float32)
        block = base[rng.integers(0, len(base), end - start)] + share * base[rng.integers(0, len(base), end - start)]
        block += rng.standard_normal(block.shape, dtype=np.float32) * scale
        out[start:end] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def build_ivf(vectors: np.ndarray) -> faiss.Index:
    nlist = max(16, int(4 * np.sqrt(len(vectors))))
    quantizer = faiss.IndexFlatIP(vectors.shape[1])
    index = faiss.IndexIVFFlat(quantizer, vectors.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    train = vectors[np.random.default_rng(1).choice(len(vectors), min(len(vectors), 40 * nlist), replace=False)]
    index.train(train)
    index.add(vectors)
    return index


def measure(
    name: str, builder, vectors: np.ndarray, queries: np.ndarray, truth: np.ndarray | None, folder: Path
) -> tuple[dict, np.ndarray]:
    gc.collect()
    started = time.perf_counter()
    index = builder(vectors)
    build_s = time.perf_counter() - started
    dense.save(index, folder)
    size_mb = (folder / dense.FILE_NAME).stat().st_size / 2**20
    del index
    gc.collect()
    rss_before = proc_status_kb()
    loaded = dense.load(folder)
    if isinstance(loaded, faiss.IndexIVF):
        loaded.nprobe = IVF_NPROBE
    search = dense.DenseSearch(loaded)
    latencies, found = [], []
    search.search(queries[:1], 10)  # warm-up
    for query in queries:
        t0 = time.perf_counter()
        _, ids = search.search(query, 10)
        latencies.append((time.perf_counter() - t0) * 1000)
        found.append(ids[0])
    served = []
    for query in queries[:50]:
        t0 = time.perf_counter()
        search.unit_scores(query)
        served.append((time.perf_counter() - t0) * 1000)
    rss_mb = (proc_status_kb() - rss_before) / 1024
    found = np.array(found)
    recall = 1.0 if truth is None else float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
    stats = percentiles(latencies)
    row = {
        "structure": name,
        "build_s": build_s,
        "size_mb": size_mb,
        "rss_mb": rss_mb,
        "p50": stats["p50"],
        "p95": stats["p95"],
        "recall": recall,
        "served_p95": percentiles(served)["p95"],
    }
    del search, loaded
    return row, found


def run(sizes: list[str], query_count: int, index_dir: Path | None, structures: list[str], say=print) -> list[list]:
    base = real_vectors(index_dir)
    rows = []
    for label in sizes:
        count = SIZES[label] or len(base)
        vectors = base if SIZES[label] == 0 else perturbed(base, count, seed=2)
        queries = perturbed(base, query_count, seed=3)
        say(f"{label}: {len(vectors):,} units of {vectors.shape[1]} dimensions, {len(queries)} queries")
        builders = {
            "exact (IndexFlatIP)": lambda v: dense.build(v, exact_max=len(v)),
            f"HNSW M={dense.HNSW_M} efSearch={dense.HNSW_EF_SEARCH}": lambda v: dense.build(v, exact_max=0),
            f"IVF-Flat nprobe={IVF_NPROBE}": build_ivf,
        }
        chosen = "hnsw" if count > dense.EXACT_MAX_UNITS else "exact"  # what dense.build serves at this size
        truth = None
        with tempfile.TemporaryDirectory(prefix="faiss-bench-") as tmp:
            for name, builder in builders.items():
                short = name.split()[0].lower()
                if short not in structures:
                    continue
                row, found = measure(name, builder, vectors, queries, truth, Path(tmp))
                if short == "exact":
                    truth = found
                label_name = name + (" (served)" if short == chosen else "")
                rows.append(
                    [
                        f"{len(vectors):,}",
                        label_name,
                        f"{row['build_s']:.2f}",
                        f"{row['size_mb']:.0f}",
                        f"{row['rss_mb']:.0f}",
                        f"{row['p50']:.2f}",
                        f"{row['p95']:.2f}",
                        f"{row['served_p95']:.2f}",
                        f"{row['recall']:.3f}",
                    ]
                )
                say("  " + " | ".join(rows[-1][1:]))
        del vectors
        gc.collect()
    return rows


HEADERS = ["units", "structure", "build s", "file MB", "RSS +MB", "p50 ms", "p95 ms", "unit_scores p95 ms", "recall@10"]


def markdown(rows: list[list], command: str, query_count: int) -> str:
    info = machine_info()
    return "\n".join(
        [
            MARK_START,
            "## FAISS dense index at scale",
            "",
            f"`{command}` on {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, "
            f"{time.strftime('%Y-%m-%d %H:%M %z')}; "
            f"faiss {faiss.__version__}; searches with {dense.SEARCH_THREADS} OpenMP thread (as served), builds "
            "with every core.",
            "",
            f"The first size is the real index; larger ones are mixes of two real unit vectors plus noise (see "
            f"`evaluation/faiss_benchmark.py`). Latency: one query at a time, {query_count} queries, top 10; "
            "`unit_scores` is what the searcher calls (every unit scored by an exact index, the "
            f"{dense.ANN_CANDIDATES} best by HNSW). Recall@10 against the exact search. RSS +MB: what the "
            'process gains opening the file memory-mapped and answering the queries. "(served)": the '
            f"structure `retrieval/dense.build` picks at that size (exact up to {dense.EXACT_MAX_UNITS:,} units).",
            "",
            table(HEADERS, rows),
            MARK_END,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the FAISS dense index at 1k-1M units")
    parser.add_argument("--sizes", default="1k,10k,100k,1m", help="comma-separated among " + ",".join(SIZES))
    parser.add_argument("--structures", default="exact,hnsw,ivf-flat")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index", type=Path, default=None, help="published index folder (default: configured)")
    parser.add_argument("--out", type=Path, help="write the table into this Markdown file (FAISS block)")
    args = parser.parse_args(argv)
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {unknown}; choose among {list(SIZES)}")
    structures = [s.strip().lower() for s in args.structures.split(",")]
    rows = run(sizes, args.queries, args.index, structures)
    command = "python -m evaluation.faiss_benchmark " + " ".join(argv if argv is not None else sys.argv[1:])
    block = markdown(rows, command.strip(), args.queries)
    print(block)
    if args.out:
        existing = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        tmp = args.out.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(splice_block(existing, block), encoding="utf-8")
        os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
