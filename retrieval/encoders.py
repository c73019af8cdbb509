"""Sentence encoders behind one small interface.

``SentenceTransformerEncoder`` wraps any sentence-transformers model id or local path (the default
is EmbeddingGemma-300m provisioned by scripts/provision_model.py). ``HashingEncoder`` is a tiny,
deterministic, dependency-free stand-in used by unit tests and as the "dense" half when no model
can be loaded, so that the code path is exercised everywhere.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from typing import Protocol

import numpy as np

from core.settings import env_setdefault
from core.text.normalize import fold

log = logging.getLogger(__name__)

# Characters of a query that are embedded (~150-200 tokens; long story-style messages in the dev
# set are under 400 characters, so this only cuts pasted walls of text).
QUERY_MAX_CHARS = 600
# Query vectors kept (LRU): the same text is embedded once per message by the situation model and the
# search, and citizens repeat the common questions. 2,048 vectors of 768 floats are 6 MB.
QUERY_CACHE_SIZE = 2048


class QueryCache:
    """A thread-safe LRU of query vectors keyed by the exact text embedded."""

    def __init__(self, size: int = QUERY_CACHE_SIZE):
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        vector = np.array(vector, dtype=np.float32)  # a private copy, read-only: callers cannot alter it
        vector.setflags(write=False)
        with self._lock:
            self._vectors[text] = vector
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def __len__(self) -> int:
        return len(self._vectors)


class Encoder(Protocol):
    model_id: str
    dimension: int

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


class SentenceTransformerEncoder:
    """A sentence-transformers model on the CPU, L2-normalised output (cosine = dot product)."""

    def __init__(self, model: str, threads: int | None = None, cache_size: int = QUERY_CACHE_SIZE):
        env_setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        env_setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            # Process-wide. The server embeds one short query at a time: a second intra-op thread
            # saves little wall time and, when the cores are busy (Rasa, other requests), its
            # OpenMP spin-waiting costs several times the work itself (docs/scale.md).
            torch.set_num_threads(threads)
        self._model = SentenceTransformer(model, device="cpu")
        self.cache = QueryCache(cache_size)
        self.model_id = model
        dimension = (
            getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension())
        prompts = getattr(self._model, "prompts", {}) or {}
        # EmbeddingGemma wants task prompts ("query"/"document"); models without them get none.
        self._query_prompt = "query" if "query" in prompts else None
        self._doc_prompt = "document" if "document" in prompts else None

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        # A 10,000-character message would take ~14 s of CPU to embed (the model reads up to 2,048
        # tokens); the question is in its first few sentences, so cap what we embed.
        texts = [t[:QUERY_MAX_CHARS] for t in texts]
        found = [self.cache.get(t) for t in texts]
        missing = list(dict.fromkeys(t for t, v in zip(texts, found) if v is None))
        if missing:
            # one call for all new texts: one forward pass over a padded batch costs less CPU than one each
            vectors = self._model.encode(
                missing,
                prompt_name=self._query_prompt,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            fresh = dict(zip(missing, np.asarray(vectors, dtype=np.float32)))
            for text, vector in fresh.items():
                self.cache.put(text, vector)
            found = [v if v is not None else fresh[t] for t, v in zip(texts, found)]
        if not found:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack(found).astype(np.float32)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            prompt_name=self._doc_prompt,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
            batch_size=16,
        )
        return np.asarray(vectors, dtype=np.float32)


class HashingEncoder:
    """Character-trigram feature hashing on accent-folded text: deterministic, instant, no model.

    Not a semantic model: it exists so tests and a model-less deployment run the same code.
    """

    def __init__(self, dimension: int = 256):
        self.model_id = f"hashing-{dimension}"
        self.dimension = dimension

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        padded = f"  {fold(text)}  "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i : i + 3].encode("utf-8"), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % self.dimension] += 1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self.encode_queries(texts)


def load_encoder(model: str, threads: int | None = None) -> Encoder | None:
    """Load the configured model; None (with a loud warning) when it cannot be had.

    ``model`` is a sentence-transformers id or path, ``hashing`` for the test encoder, or
    ``none``/empty to disable dense search on purpose. ``threads``: torch's intra-op threads for
    this process (None: torch's default, one per core; the index build wants that).
    """
    if not model or model.lower() == "none":
        return None
    if model.lower().startswith("hashing"):
        return HashingEncoder()
    if os.path.sep in model and not os.path.exists(model):
        log.warning("EMBEDDING MODEL NOT FOUND at %s: serving LEXICAL SEARCH ONLY. Run `make setup`.", model)
        return None
    try:
        return SentenceTransformerEncoder(model, threads=threads)
    except Exception as exc:  # noqa: BLE001 - any load failure degrades to lexical search
        log.warning("EMBEDDING MODEL %s FAILED TO LOAD (%s): serving LEXICAL SEARCH ONLY.", model, exc)
        return None
