"""The dense half of the search: a FAISS index over the units' embeddings.

Every index build writes ``dense.faiss`` beside its ``dense.npy``; the action server loads it
memory-mapped (``IO_FLAG_MMAP``), so replicas on one machine share the pages and a reload costs no
copy. The vectors are L2-normalised, so inner product is cosine.

Which structure (measured on this 2-core machine, docs/benchmark.md "FAISS"):

* up to ``EXACT_MAX_UNITS`` units: exact inner product (``IndexFlatIP``). The real collection is
  ~1.3k units; a province's catalogue stays in the tens of thousands, where one exact scan of a
  768-dim matrix is still a few milliseconds.
* above: HNSW (``IndexHNSWFlat``, ``HNSW_M`` links per node), whose latency barely grows with the
  collection, at a recall against exact search of ~0.99 with ``HNSW_EF_SEARCH``.

The searcher needs a score for every unit (a guide's score is the mean of its best units, and the
best section of the chosen guide is picked by unit score). An exact index scores every unit, so
the result equals the numpy product, which is how the tests check it (numpy stays only as their
oracle). An HNSW index returns its ``ANN_CANDIDATES`` best; every other unit gets the lowest
returned score, a bound it cannot exceed, so no guide outside the candidates can overtake one
inside them.
"""

from __future__ import annotations

import os
from pathlib import Path

import faiss
import numpy as np

FILE_NAME = "dense.faiss"
# Exact search up to this many units, HNSW above (docs/benchmark.md: on 2 busy cores an exact scan
# costs ~1 ms per thousand 768-dim units, 100k units p50 ~120 ms; HNSW stays under 1 ms).
EXACT_MAX_UNITS = 20_000
# HNSW graph degree and search breadth: M=32 / efSearch=128 gave recall@10 ≥ 0.98 on the
# synthetic 1M-unit benchmark while keeping p95 under 5 ms.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# OpenMP threads for one query. FAISS's default (every core) spins its threads on each call: on 2
# busy cores a 10k-unit exact search took p50 37 ms with 2 threads and 1.3 ms with 1 (the action
# server asks one query at a time, and concurrent requests already use the other core). Index
# builds keep every core.
SEARCH_THREADS = 1
# Units scored per query by an HNSW index (its search breadth is max(efSearch, k), so k costs
# latency): a guide needs 3 good units to rank, and 256 cover the leading guides many times over.
ANN_CANDIDATES = 256


def build(vectors: np.ndarray, exact_max: int = EXACT_MAX_UNITS) -> faiss.Index:
    """A FAISS index over ``vectors`` (rows L2-normalised, float32): exact or HNSW by size."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    count, dimension = vectors.shape
    if count <= exact_max:
        index = faiss.IndexFlatIP(dimension)
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)
    return index


def save(index: faiss.Index, folder: Path) -> Path:
    path = folder / FILE_NAME
    faiss.write_index(index, str(path))
    return path


def load(folder: Path) -> faiss.Index:
    """Open ``folder/dense.faiss`` memory-mapped. Raises ``RuntimeError``/``OSError`` if unreadable."""
    path = folder / FILE_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def kind(index: faiss.Index) -> str:
    """A short name for the metadata and the benchmark: ``flat``, ``hnsw`` or ``ivf``."""
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    return "ivf" if isinstance(index, faiss.IndexIVF) else "flat"


class DenseSearch:
    """Scores a query vector against every unit through a FAISS index (thread-safe for reads)."""

    def __init__(self, index: faiss.Index, candidates: int | None = None):
        self.index = index
        # Exact indexes score every unit; approximate ones (HNSW, IVF) their best candidates.
        exact = kind(index) == "flat"
        self.candidates = candidates or (self.size if exact else ANN_CANDIDATES)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's own answer: (scores, unit ids), each ``(len(queries), k)``; ids -1 pad."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        faiss.omp_set_num_threads(SEARCH_THREADS)  # per calling thread (OpenMP's nthreads-var)
        return self.index.search(queries, min(k, self.size))

    def unit_scores(self, query: np.ndarray) -> np.ndarray:
        """A score for every unit: FAISS's ``candidates`` best, the rest bounded by the lowest of them.

        >>> import numpy as np
        >>> vectors = np.eye(3, dtype=np.float32)
        >>> DenseSearch(build(vectors)).unit_scores(np.array([0, 1, 0], dtype=np.float32)).tolist()
        [0.0, 1.0, 0.0]
        """
        scores, ids = self.search(query, self.candidates)
        scores, ids = scores[0], ids[0]
        found = ids >= 0
        floor = float(scores[found].min()) if found.any() else 0.0
        out = np.full(self.size, floor, dtype=np.float32)
        out[ids[found]] = scores[found]
        return out
