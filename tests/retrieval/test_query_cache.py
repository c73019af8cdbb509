"""The query-vector cache of the sentence encoder (retrieval/encoders.py): same vectors, fewer passes."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.encoders import QUERY_MAX_CHARS, QueryCache, SentenceTransformerEncoder


class CountingModel:
    """Stands in for the SentenceTransformer: a deterministic vector per text, calls counted."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def encode(self, texts, **_):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def encoder(cache_size=8) -> SentenceTransformerEncoder:
    enc = object.__new__(SentenceTransformerEncoder)  # no model download in a unit test
    enc._model, enc._query_prompt, enc.dimension, enc.cache = CountingModel(), "query", 3, QueryCache(cache_size)
    return enc


def test_a_repeated_text_is_embedded_once_with_the_same_vector():
    enc = encoder()
    first = enc.encode_queries(["quên mật khẩu", "đổi bằng lái"])
    again = enc.encode_queries(["đổi bằng lái", "quên mật khẩu"])
    assert enc._model.calls == [["quên mật khẩu", "đổi bằng lái"]]
    np.testing.assert_array_equal(again, first[::-1])


def test_only_new_texts_are_embedded_in_one_batch_and_order_is_kept():
    enc = encoder()
    enc.encode_queries(["a"])
    out = enc.encode_queries(["b", "a", "c", "b"])
    assert enc._model.calls[-1] == ["b", "c"]
    assert out.shape == (4, 3) and out[0].tolist() == out[3].tolist()


def test_the_cache_key_is_the_text_embedded_after_the_length_cap():
    enc = encoder()
    long = "x" * (QUERY_MAX_CHARS + 50)
    enc.encode_queries([long])
    enc.encode_queries([long[:QUERY_MAX_CHARS] + "different tail"])
    assert len(enc._model.calls) == 1


def test_least_recently_used_is_dropped_and_size_zero_disables():
    cache = QueryCache(2)
    for text in ("a", "b"):
        cache.put(text, np.ones(3))
    cache.get("a")
    cache.put("c", np.ones(3))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 2
    off = QueryCache(0)
    off.put("a", np.ones(3))
    assert off.get("a") is None


def test_cached_vectors_cannot_be_changed_by_a_caller():
    enc = encoder()
    out = enc.encode_queries(["a"])
    out[0, 0] = 999.0  # the caller's copy
    assert enc.encode_queries(["a"])[0, 0] != 999.0
    with pytest.raises(ValueError):
        enc.cache.get("a")[0] = 1.0


def test_no_texts_give_an_empty_matrix():
    assert encoder().encode_queries([]).shape == (0, 3)
