"""retrieval/dense.py: the FAISS index each build carries, checked against numpy (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import dense
from retrieval.index import IndexLoadError, load_index
from tests.retrieval.tiny_kb import build


def _unit_vectors(count: int, dimension: int = 32, seed: int = 7) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_every_build_with_vectors_carries_an_exact_faiss_index(tiny_index):
    assert (tiny_index.path / dense.FILE_NAME).is_file()
    assert tiny_index.meta["dense_index"] == "flat"
    assert tiny_index.dense is not None and tiny_index.dense.size == len(tiny_index.units)


def test_faiss_scores_equal_the_numpy_product(tiny_index, encoder):
    for query in ("quên mật khẩu vneid", "lam ho chieu o dau", "xin chào"):
        qvec = encoder.encode_queries([query])[0]
        oracle = np.asarray(tiny_index.vectors) @ qvec
        assert np.allclose(tiny_index.dense.unit_scores(qvec), oracle, atol=1e-5)


def test_searcher_ranks_with_faiss_as_with_numpy(searcher, encoder, monkeypatch):
    query = "quen mat khau thi lam sao"
    faiss_decision = searcher.decide(query)
    oracle = np.asarray(searcher.index.vectors)
    monkeypatch.setattr(searcher.index.dense, "unit_scores", lambda qvec: oracle @ qvec)
    numpy_decision = searcher.decide(query)
    assert [r.guide_id for r in faiss_decision.ranked] == [r.guide_id for r in numpy_decision.ranked]
    assert faiss_decision.ranked[0].score == pytest.approx(numpy_decision.ranked[0].score, abs=1e-5)


def test_units_beyond_the_candidates_get_a_bound_not_more():
    vectors = _unit_vectors(500)
    search = dense.DenseSearch(dense.build(vectors), candidates=20)
    query = vectors[3]
    scores = search.unit_scores(query)
    exact = vectors @ query
    top = np.argsort(-exact)[:20]
    assert np.allclose(scores[top], exact[top], atol=1e-5)  # the candidates carry their own score
    rest = np.setdiff1d(np.arange(500), top)
    assert np.all(scores[rest] == scores[top].min())  # the others: the lowest candidate score
    assert np.all(exact[rest] <= scores[rest] + 1e-6)  # ... which none of them exceeds


def test_large_collections_get_hnsw_with_high_recall(tmp_path):
    vectors = _unit_vectors(3000, dimension=48)
    index = dense.build(vectors, exact_max=1000)
    assert dense.kind(index) == "hnsw"
    dense.save(index, tmp_path)
    loaded = dense.load(tmp_path)
    assert dense.kind(loaded) == "hnsw" and loaded.hnsw.efSearch == dense.HNSW_EF_SEARCH
    queries = vectors[:50] + 0.1 * _unit_vectors(50, dimension=48, seed=8)
    _, found = dense.DenseSearch(loaded).search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.95


@pytest.mark.parametrize("damage", ["missing", "garbage", "other_vectors"])
def test_a_build_with_a_broken_faiss_file_is_refused(kb, index_dir, encoder, damage):
    path, _, _ = build(kb, index_dir, encoder)
    target = path / dense.FILE_NAME
    if damage == "missing":
        target.unlink()
    elif damage == "garbage":
        target.write_bytes(b"not a faiss index")
    else:
        dense.save(dense.build(_unit_vectors(3, dimension=256)), path)
    with pytest.raises(IndexLoadError):
        load_index(index_dir)


def test_a_build_without_a_model_has_no_faiss_file(kb, index_dir):
    path, _, _ = build(kb, index_dir, None)
    assert not (path / dense.FILE_NAME).exists()
    assert load_index(index_dir).dense is None
