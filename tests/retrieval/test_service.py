"""retrieval/service.py: live reload of published builds, keeping the old index on failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from retrieval import service as service_mod
from retrieval.encoders import HashingEncoder
from retrieval.index import IndexLoadError, current_build, publish
from retrieval.service import SearchService
from tests.retrieval.tiny_kb import PASSPORT, build, write_kb


def make_service(index_dir: Path, encoder=None, **settings) -> SearchService:
    return SearchService(Settings(index_dir=index_dir, **settings), encoder=encoder or HashingEncoder())


def corrupt_copy(index_dir: Path, name: str) -> Path:
    """A copy of the current build under ``name`` with a garbage units.jsonl."""
    source = current_build(index_dir)
    target = index_dir / "builds" / name
    shutil.copytree(source, target)
    (target / "units.jsonl").write_text("\x00\x01 garbage, not JSON lines\n{{{\n", encoding="utf-8")
    return target


def test_no_index_raises_index_load_error(index_dir):
    service = make_service(index_dir)
    with pytest.raises(IndexLoadError, match="no published index"):
        service.searcher()


def test_serves_the_published_build_and_reuses_the_searcher(kb, index_dir):
    path, _, _ = build(kb, index_dir, HashingEncoder())
    service = make_service(index_dir)
    first = service.searcher()
    assert first.index.path == path
    assert first.dense_enabled
    assert service.searcher() is first  # no new build: the same searcher, nothing reloaded
    assert service.last_error is None
    assert first.decide("Quên mật khẩu VNeID thì lấy lại thế nào?").guide_ids == ["vneid_forgot_password"]


def test_live_reload_picks_up_a_new_build_without_restart(kb, index_dir):
    build_a, _, _ = build(kb, index_dir, HashingEncoder())
    service = make_service(index_dir)
    searcher_a = service.searcher()
    assert "dvc_passport" not in searcher_a.index.guides

    write_kb(kb, {"dvc_passport": PASSPORT})
    build_b, _, _ = build(kb, index_dir, HashingEncoder())
    assert build_b != build_a
    searcher_b = service.searcher()
    assert searcher_b is not searcher_a
    assert searcher_b.index.path == build_b
    assert "dvc_passport" in searcher_b.index.guides
    assert searcher_b.decide("Làm hộ chiếu online thế nào?").top.guide_id == "dvc_passport"
    # A request that got the old searcher keeps working with it.
    assert searcher_a.decide("Quên mật khẩu VNeID thì lấy lại thế nào?").action == "answer"


def test_corrupt_new_build_keeps_serving_the_old_one(kb, index_dir):
    build(kb, index_dir, HashingEncoder())
    service = make_service(index_dir)
    write_kb(kb, {"dvc_passport": PASSPORT})
    build_b, _, _ = build(kb, index_dir, HashingEncoder())
    searcher_b = service.searcher()
    assert searcher_b.index.path == build_b

    corrupt = corrupt_copy(index_dir, "29991231-235959-corrupt")
    publish(index_dir, corrupt.name)
    assert current_build(index_dir) == corrupt
    kept = service.searcher()
    assert kept is searcher_b
    assert service.last_error is not None and corrupt.name in service.last_error
    assert kept.decide("Làm hộ chiếu online thế nào?").top.guide_id == "dvc_passport"
    # The broken build is not retried on every request.
    assert service.searcher() is searcher_b

    # A good build published afterwards is served again and clears the error.
    (kb / "dvc_passport.md").unlink()
    build_d, _, _ = build(kb, index_dir, HashingEncoder())
    searcher_d = service.searcher()
    assert searcher_d.index.path == build_d
    assert "dvc_passport" not in searcher_d.index.guides
    assert service.last_error is None


def test_corrupt_first_build_raises_with_the_reason(kb, index_dir):
    build(kb, index_dir, HashingEncoder())
    corrupt = corrupt_copy(index_dir, "29991231-235959-corrupt")
    publish(index_dir, corrupt.name)
    service = make_service(index_dir)
    with pytest.raises(IndexLoadError, match="corrupt"):
        service.searcher()
    assert "corrupt" in service.last_error


def test_index_from_another_model_is_served_lexically(kb, index_dir):
    build(kb, index_dir, HashingEncoder(dimension=128))  # model id "hashing-128"
    service = make_service(index_dir, encoder=HashingEncoder(dimension=256))
    searcher = service.searcher()
    assert searcher.index.vectors is None
    assert not searcher.dense_enabled
    assert service.last_error is None
    decision = searcher.decide("quen mat khau vneid lay lai the nao")
    assert decision.top.guide_id == "vneid_forgot_password"
    assert decision.top.dense == 0.0


def test_settings_thresholds_override_the_calibrated_ones(kb, index_dir):
    build(kb, index_dir, HashingEncoder())
    service = make_service(index_dir, answer_threshold=0.99, margin_threshold=0.2)
    searcher = service.searcher()
    assert (searcher.thresholds.answer, searcher.thresholds.margin) == (0.99, 0.2)
    assert searcher.decide("Quên mật khẩu VNeID thì lấy lại thế nào?").action == "abstain"


def test_get_service_builds_the_singleton_from_the_environment(kb, index_dir, monkeypatch):
    build(kb, index_dir, HashingEncoder())
    monkeypatch.setattr(service_mod._service, "value", None)
    monkeypatch.setenv("DVC_INDEX_DIR", str(index_dir))
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")
    service = service_mod.get_service()
    assert service_mod.get_service() is service
    assert service.settings.index_dir == index_dir
    searcher = service.searcher()
    assert searcher.dense_enabled and searcher.encoder.model_id == "hashing-256"
