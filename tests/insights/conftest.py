"""Fixtures for the insights tests: isolated environment, a store on each backend, the tiny index.

PostgreSQL as in tests/handoff/conftest.py (HANDOFF_TEST_POSTGRES_URL; HANDOFF_TEST_POSTGRES=skip
to skip when there is none).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handoff.store import Store
from insights import recording
from retrieval import service as service_mod
from tests.actions.action_kit import set_thresholds
from tests.handoff.conftest import PostgresSchema
from tests.retrieval.tiny_kb import TEST_THRESHOLDS, publish_tiny_index

CLEARED = (
    "HANDOFF_HOURS",
    "HANDOFF_HOLIDAYS",
    "HANDOFF_TZ",
    "HOTLINE_NUMBER",
    "HOTLINE_NAME",
    "HOTLINE_HOURS",
    "PROVINCE_NAME",
    "DVC_ANSWER_THRESHOLD",
    "DVC_MARGIN_THRESHOLD",
    "DVC_KNOWLEDGE_DIR",
    recording.ENV_SWITCH,
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("DVC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DVC_INDEX_DIR", str(tmp_path / "no-index"))
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("HANDOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'handoff.sqlite3'}")
    monkeypatch.setattr(service_mod._service, "value", None)
    set_thresholds(monkeypatch, TEST_THRESHOLDS)
    yield
    assert recording.flush(10), "the recorder did not finish writing"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The SQLite database the actions record into (HANDOFF_DATABASE_URL)."""
    return f"sqlite:///{tmp_path / 'handoff.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh store on each backend."""
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield s
        s.close()
    else:
        with PostgresSchema() as schema:
            s = Store(schema.url)
            yield s
            s.close()


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny index (3 guides + routing entries, hashing encoder), served through DVC_INDEX_DIR."""
    return publish_tiny_index(tmp_path, monkeypatch)
