"""The serving side: one encoder, the published index, and live reload.

The action server asks :func:`get_service` for a :class:`~retrieval.search.Searcher` on every
question. The service checks the index folder's ``CURRENT`` pointer (one ``stat`` call); when a
new build was published it loads it and swaps it in. If the new build fails to load, it keeps
serving the old one and logs why. Requests already running keep the searcher they got, so a
swap never drops a request.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.lazy import Lazy
from core.settings import Settings, load_settings
from retrieval.encoders import Encoder, load_encoder
from retrieval.index import IndexLoadError, current_build, load_index
from retrieval.keyterms import KEYTERMS_FILE, UNCOVERED_DIR, KeyTerms, load_keyterms
from retrieval.decision import Thresholds
from retrieval.search import Searcher

log = logging.getLogger(__name__)


class SearchService:
    def __init__(self, settings: Settings, encoder: Encoder | None = None, load_model: bool = True):
        self.settings = settings
        self._encoder = encoder
        self._encoder_loaded = encoder is not None or not load_model
        self._lock = threading.RLock()  # searcher() loads the encoder while holding it
        self._searcher: Searcher | None = None
        self._serving: Path | None = None
        self._keyterms_stamp: tuple | None = None
        self.last_error: str | None = None

    @property
    def encoder(self) -> Encoder | None:
        if not self._encoder_loaded:
            with self._lock:
                if not self._encoder_loaded:
                    self._encoder = load_encoder(
                        self.settings.embedding_model, threads=self.settings.torch_threads or None
                    )
                    self._encoder_loaded = True
        return self._encoder

    def _thresholds(self) -> Thresholds:
        base = Thresholds.load()
        overrides = {}
        if self.settings.answer_threshold is not None:
            overrides["answer"] = self.settings.answer_threshold
        if self.settings.margin_threshold is not None:
            overrides["margin"] = self.settings.margin_threshold
        return Thresholds(**{**base.__dict__, **overrides})

    def _load(self, build: Path) -> Searcher:
        encoder = self.encoder
        expected = encoder.model_id if encoder else None
        try:
            index = load_index(self.settings.index_dir, expected_model=expected)
        except IndexLoadError as exc:
            if expected is None or "was built with model" not in str(exc):
                raise
            log.warning("%s; serving LEXICAL SEARCH ONLY until it is rebuilt", exc)
            index = load_index(self.settings.index_dir)
            index.vectors = index.dense = None
        if index.path != build:
            raise IndexLoadError(f"index changed while loading ({build.name} -> {index.path.name})")
        if index.vectors is not None and encoder is None:
            log.warning("index has dense vectors but no embedding model is loaded: LEXICAL SEARCH ONLY")
        self._keyterms_stamp = self._stamp()
        return Searcher(index, encoder, self._thresholds(), self._keyterms())

    def _stamp(self) -> tuple:
        """(name, mtime, size) of the key-term files: a staff edit changes it (a few stat calls)."""
        folder = self.settings.knowledge_dir
        paths = [folder / KEYTERMS_FILE, *sorted((folder / UNCOVERED_DIR).glob("*.yml"))]
        stamp = []
        for path in paths:
            try:
                info = path.stat()
            except OSError:
                continue
            stamp.append((path.name, info.st_mtime_ns, info.st_size))
        return tuple(stamp)

    def _keyterms(self) -> KeyTerms | None:
        """Key terms and the uncovered-procedure catalogue from the knowledge folder."""
        try:
            return load_keyterms(self.settings.knowledge_dir)
        except Exception:  # a broken patterns file must not stop the search
            log.exception("could not load key terms from %s; answering without the check", self.settings.knowledge_dir)
            return None

    def _refresh_keyterms(self, searcher: Searcher) -> None:
        """Swap in edited key-term files without waiting for a new index build."""
        stamp = self._stamp()
        if stamp == self._keyterms_stamp:
            return
        with self._lock:
            if stamp != self._keyterms_stamp:
                searcher.use_keyterms(self._keyterms())
                self._keyterms_stamp = stamp
                log.info("key terms reloaded from %s", self.settings.knowledge_dir)

    def searcher(self) -> Searcher:
        """The searcher for the newest loadable build. Raises IndexLoadError if there is none."""
        build = current_build(self.settings.index_dir)
        if build is not None and build != self._serving:
            with self._lock:
                if build != self._serving:
                    try:
                        searcher = self._load(build)
                    except Exception as exc:  # noqa: BLE001 - a bad build must not stop serving
                        self.last_error = f"{build.name}: {exc}"
                        self._serving = build  # do not retry the same broken build on every request
                        log.error("could not load index %s, keeping the previous one: %s", build, exc)
                    else:
                        self._searcher, self._serving, self.last_error = searcher, build, None
                        log.info(
                            "serving index %s (%s guides, model %s)",
                            build.name,
                            searcher.index.meta.get("guides"),
                            searcher.index.meta.get("model_id"),
                        )
        if self._searcher is None:
            raise IndexLoadError(self.last_error or f"no published index in {self.settings.index_dir}")
        self._refresh_keyterms(self._searcher)
        return self._searcher


_service: Lazy[SearchService] = Lazy(lambda: SearchService(load_settings()))


def get_service() -> SearchService:
    """The process-wide service, created on first use (never at import)."""
    return _service()
