"""The situation model the answer action shares across requests, built on first use from the search's
embedding model and diacritics restoration (loaded with the index) and the learned danger classifier,
or from patterns alone."""

from __future__ import annotations

import logging

from core.lazy import Lazy
from core.settings import load_settings
from dialogue.danger import DangerClassifier
from dialogue.danger import model_path as danger_model_path
from dialogue.situations import SituationModel
from retrieval.service import get_service

log = logging.getLogger("actions.answer")


def _build_situations() -> SituationModel:
    encoder, restore, classifier = None, None, None
    try:
        service = get_service()
        searcher = service.searcher()
        encoder = searcher.encoder
        restore = searcher._restorer.restore  # same diacritics restoration as the search
        classifier = DangerClassifier.load(danger_model_path(load_settings().index_dir))
    except Exception:  # noqa: BLE001 - patterns alone still work
        log.warning("situations: no embedding model, patterns only")
    return SituationModel(encoder, restore, classifier=classifier)


_situations: Lazy[SituationModel] = Lazy(_build_situations)


def situation_model() -> SituationModel:
    """Patterns plus the search's embedding model (loaded with the index, shared)."""
    return _situations()
