"""The retrieval tests' fixtures (a tiny knowledge folder and index in tmp_path, an isolated cache)."""

from tests.retrieval.conftest import _isolated_cache, encoder, index_dir, kb, searcher, tiny_index  # noqa: F401
