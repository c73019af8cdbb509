"""Fixtures for the action tests: the service pointed at a tiny index in tmp_path.

The actions call ``retrieval.service.get_service()``; each test gets a fresh singleton built from
the environment (DVC_INDEX_DIR, DVC_EMBEDDING_MODEL=hashing), so no model and never the
clone's models/index. Decision thresholds are pinned (not retrieval/thresholds.json, which is
calibrated for the real embedding model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import service as service_mod
from tests.actions.action_kit import set_thresholds
from tests.retrieval.tiny_kb import TEST_THRESHOLDS, publish_tiny_index

ENV_VARS = (
    "HOTLINE_NUMBER",
    "HOTLINE_NAME",
    "HOTLINE_HOURS",
    "PROVINCE_NAME",
    "DVC_ANSWER_THRESHOLD",
    "DVC_MARGIN_THRESHOLD",
    "DVC_KNOWLEDGE_DIR",
    "DVC_DATA_DIR",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("DVC_INDEX_DIR", str(tmp_path / "no-index-here"))
    monkeypatch.setattr(service_mod._service, "value", None)
    set_thresholds(monkeypatch, TEST_THRESHOLDS)
    # The handoff store of the request-human action: a private SQLite file, default hours.
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'handoff.sqlite3'}")
    for name in ("HANDOFF_HOURS", "HANDOFF_HOLIDAYS", "HANDOFF_TZ"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Build the tiny index (3 guides + routing entries) and point the service at it."""
    return publish_tiny_index(tmp_path, monkeypatch)
