"""Shared fixtures for the retrieval tests: a tiny knowledge folder and index in tmp_path.

Nothing here touches the clone's models/index, the real embedding cache or a model: the
embedding cache goes to XDG_CACHE_HOME, pointed at tmp_path for every test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.encoders import HashingEncoder
from retrieval.index import Index, load_index
from retrieval.search import Searcher
from tests.retrieval.tiny_kb import ROUTING, TEST_THRESHOLDS, build, write_kb


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """The three tiny guides plus a routing.yml with one handoff and one uncovered entry."""
    return write_kb(tmp_path / "knowledge", routing=ROUTING)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def tiny_index(kb: Path, index_dir: Path, encoder: HashingEncoder) -> Index:
    path, problems, _ = build(kb, index_dir, encoder)
    assert path is not None and not problems
    return load_index(index_dir, expected_model=encoder.model_id)


@pytest.fixture
def searcher(tiny_index: Index, encoder: HashingEncoder) -> Searcher:
    return Searcher(tiny_index, encoder, TEST_THRESHOLDS)
