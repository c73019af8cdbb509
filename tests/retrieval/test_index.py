"""retrieval/index.py: build, incremental embedding cache, atomic publish, load checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import index as index_mod
from retrieval.encoders import HashingEncoder
from retrieval.index import (
    FORMAT_VERSION,
    IndexLoadError,
    current_build,
    load_index,
    publish,
    units_for,
)
from tests.retrieval.tiny_kb import FORGOT_PASSWORD, GUIDES, PASSPORT, build, write_kb


class CountingEncoder(HashingEncoder):
    """HashingEncoder that records every text it was asked to embed."""

    def __init__(self, dimension: int = 256):
        super().__init__(dimension)
        self.embedded: list[str] = []

    def encode_documents(self, texts, progress=False):
        self.embedded.extend(texts)
        return super().encode_documents(texts, progress)


class FailingEncoder(HashingEncoder):
    def encode_documents(self, texts, progress=False):
        raise RuntimeError("model crashed")


def read_meta(build_path: Path) -> dict:
    return json.loads((build_path / "meta.json").read_text(encoding="utf-8"))


def unique_unit_texts(kb: Path) -> set[str]:
    from retrieval.documents import load_guides

    guides, _ = load_guides(kb)
    return {u.text for g in guides for u in units_for(g)}


# ------------------------------------------------------------------ build


def test_build_writes_a_complete_build_and_meta(kb, index_dir, _isolated_cache):
    encoder = CountingEncoder()
    path, problems, logs = build(kb, index_dir, encoder)
    assert problems == []
    assert path is not None and path.parent == index_dir / "builds"
    assert current_build(index_dir) == path
    for name in ("meta.json", "units.jsonl", "guides.json", "dense.npy"):
        assert (path / name).is_file(), name
    meta = read_meta(path)
    units = (path / "units.jsonl").read_text(encoding="utf-8").splitlines()
    assert meta["format"] == FORMAT_VERSION
    assert meta["model_id"] == "hashing-256"
    assert meta["dimension"] == 256
    assert meta["guides"] == 3
    assert meta["routes"] == 2
    assert meta["units"] == len(units)
    assert meta["guide_ids"] == sorted(list(GUIDES) + ["handoff_complaint", "uncovered_marriage"])
    assert isinstance(meta["content_hash"], str) and len(meta["content_hash"]) == 16
    assert path.name.endswith(meta["content_hash"])
    # First build: everything embedded once (duplicate texts only once), nothing reused.
    texts = unique_unit_texts(kb)
    assert meta["embedded"] == len(texts) == len(encoder.embedded)
    assert set(encoder.embedded) == texts
    assert meta["reused"] == 0
    vectors = np.load(path / "dense.npy")
    assert vectors.shape == (len(units), 256)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert any("published" in line for line in logs)
    # The embedding cache lives under XDG_CACHE_HOME (here tmp_path), never in the clone.
    assert (_isolated_cache / "tro-ly-dvc" / "embeddings" / "hashing-256.npz").is_file()


def test_units_are_grouped_by_guide_in_id_order(tiny_index):
    ids = [u.guide_id for u in tiny_index.units]
    assert ids == sorted(ids)
    kinds = {u.kind for u in tiny_index.units}
    assert kinds == {"title", "summary", "question", "section"}
    # Routing entries are indexed by title and questions only.
    assert {u.kind for u in tiny_index.units if u.guide_id == "handoff_complaint"} == {"title", "question"}


def test_units_hold_neutral_words_instead_of_placeholders(tiny_index):
    texts = [u.text for u in tiny_index.units]
    assert not any("{hotline" in t or "{province}" in t for t in texts)
    assert any("tổng đài (giờ làm việc)" in t for t in texts)
    # The guides themselves keep the placeholders, filled at answer time.
    assert "{hotline}" in tiny_index.guides["vneid_forgot_password"].sections[1].text


def test_section_units_carry_title_and_heading(tiny_index):
    sections = [u for u in tiny_index.units if u.guide_id == "vneid_activate" and u.kind == "section"]
    assert [u.section for u in sections] == [0, 1]
    assert sections[1].text.startswith(
        "Kích hoạt tài khoản định danh điện tử VNeID. Điện thoại không có NFC khi kích hoạt VNeID. "
    )


def test_long_sections_are_split_into_chunks():
    text = "\n".join(f"Dòng số {i} " + "chữ " * 20 for i in range(10))  # ~22 words a line
    pieces = index_mod._chunks(text, max_words=60)
    assert len(pieces) == 5
    assert "\n".join(pieces).split() == text.split()
    assert all(len(p.split()) <= 60 for p in pieces)


def test_rebuild_embeds_only_changed_units(kb, index_dir):
    first = CountingEncoder()
    path1, _, _ = build(kb, index_dir, first)
    meta1 = read_meta(path1)

    # Unchanged: nothing to embed and nothing new published (the served build stays).
    again = CountingEncoder()
    path2, _, _ = build(kb, index_dir, again)
    assert again.embedded == []
    assert path2 == path1
    assert current_build(index_dir) == path1

    # One question of one guide changed: exactly that text is embedded.
    (kb / "vneid_forgot_password.md").write_text(
        FORGOT_PASSWORD.replace("  - reset mat khau vneid\n", "  - cách đặt lại mật khẩu VNeID khi quên\n"),
        encoding="utf-8",
    )
    changed = CountingEncoder()
    path3, _, _ = build(kb, index_dir, changed)
    meta3 = read_meta(path3)
    assert changed.embedded == ["cách đặt lại mật khẩu VNeID khi quên"]
    assert meta3["embedded"] == 1
    assert meta3["reused"] == meta1["embedded"] - 1
    assert meta3["content_hash"] != meta1["content_hash"]
    assert current_build(index_dir) == path3
    # The vectors of the new build equal a fresh embedding of its units.
    loaded = load_index(index_dir)
    fresh = HashingEncoder().encode_documents([u.text for u in loaded.units])
    assert np.allclose(loaded.vectors, fresh, atol=1e-6)


def test_rebuild_after_new_guide_embeds_only_its_units(kb, index_dir):
    build(kb, index_dir, CountingEncoder())
    write_kb(kb, {"dvc_passport": PASSPORT})
    encoder = CountingEncoder()
    path, _, _ = build(kb, index_dir, encoder)
    meta = read_meta(path)
    loaded = load_index(index_dir)
    passport_texts = {u.text for u in loaded.units if u.guide_id == "dvc_passport"}
    assert set(encoder.embedded) == passport_texts
    assert meta["embedded"] == len(passport_texts)
    assert meta["guides"] == 4


def test_build_without_encoder_has_no_vectors(kb, index_dir):
    path, problems, _ = build(kb, index_dir, None)
    assert problems == []
    meta = read_meta(path)
    assert (meta["model_id"], meta["dimension"], meta["embedded"], meta["reused"]) == ("none", 0, 0, 0)
    assert not (path / "dense.npy").exists()
    loaded = load_index(index_dir, expected_model="any-model")  # a model-less index loads anywhere
    assert loaded.vectors is None
    assert len(loaded.units) == meta["units"]


# ------------------------------------------------------------------ broken guides, atomic publish


def test_broken_guide_is_skipped_and_reported_others_published(kb, index_dir, encoder):
    broken = kb / "vneid_activate.md"
    broken.write_text(GUIDES["vneid_activate"].replace("title: Kích hoạt", "title: Kích: hoạt"), encoding="utf-8")
    path, problems, logs = build(kb, index_dir, encoder)
    assert path is not None
    assert [(Path(p.path).name, p.line, p.severity) for p in problems] == [("vneid_activate.md", 3, "error")]
    assert any(str(broken) in line for line in logs)
    meta = read_meta(path)
    assert "vneid_activate" not in meta["guide_ids"]
    assert {"vneid_forgot_password", "dvc_traffic_fines"} <= set(meta["guide_ids"])
    loaded = load_index(index_dir, expected_model=encoder.model_id)
    assert set(loaded.guides) == set(meta["guide_ids"])


def test_no_valid_guide_publishes_nothing_and_keeps_current(kb, index_dir, encoder, tmp_path):
    good, _, _ = build(kb, index_dir, encoder)
    empty = tmp_path / "empty-knowledge"
    empty.mkdir()
    (empty / "bad.md").write_text("không có front matter", encoding="utf-8")
    path, problems, logs = build(empty, index_dir, encoder)
    assert path is None
    assert len(problems) == 1
    assert current_build(index_dir) == good
    assert any("nothing published" in line for line in logs)


def test_failed_embedding_leaves_the_served_build_untouched(kb, index_dir, encoder):
    good, _, _ = build(kb, index_dir, encoder)
    (kb / "vneid_forgot_password.md").write_text(
        FORGOT_PASSWORD.replace("reset mat khau", "đặt lại mk"), encoding="utf-8"
    )
    with pytest.raises(RuntimeError):
        build(kb, index_dir, FailingEncoder())
    assert current_build(index_dir) == good
    assert load_index(index_dir).meta["content_hash"] == read_meta(good)["content_hash"]


def test_crash_while_writing_a_build_never_moves_current(kb, index_dir, encoder, monkeypatch):
    good, _, _ = build(kb, index_dir, encoder)
    (kb / "vneid_forgot_password.md").write_text(
        FORGOT_PASSWORD.replace("reset mat khau", "đặt lại mk"), encoding="utf-8"
    )

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(index_mod.np, "save", disk_full)
    with pytest.raises(OSError):
        build(kb, index_dir, encoder)
    monkeypatch.undo()
    assert current_build(index_dir) == good
    loaded = load_index(index_dir)
    assert loaded.path == good
    # Whatever was half written is in a hidden temporary folder, not among the builds.
    visible = [p.name for p in (index_dir / "builds").iterdir() if not p.name.startswith(".")]
    assert visible == [good.name]


def test_publish_is_an_atomic_pointer_swap_and_keeps_recent_builds(kb, index_dir, encoder):
    build(kb, index_dir, encoder)
    builds = index_dir / "builds"
    first = current_build(index_dir)
    files = {f.name: f.read_bytes() for f in first.iterdir()}
    names = [f"20990101-00000{i}-fake" for i in range(6)]
    for name in names:
        (builds / name).mkdir()
        for file_name, data in files.items():
            (builds / name / file_name).write_bytes(data)
        publish(index_dir, name)
        assert (index_dir / "CURRENT").read_text(encoding="utf-8") == name + "\n"
        assert current_build(index_dir) == builds / name
    assert not list(index_dir.glob(".CURRENT*"))  # the temporary pointer was renamed into place
    remaining = sorted(p.name for p in builds.iterdir() if not p.name.startswith("."))
    # The current build and the KEEP_BUILDS before it survive; older ones are pruned.
    assert remaining == names[-(index_mod.KEEP_BUILDS + 1) :]
    assert not first.exists()
    assert load_index(index_dir).path == builds / names[-1]


# ------------------------------------------------------------------ load_index


def test_load_index_round_trips_guides_and_units(tiny_index, kb):
    from retrieval.documents import load_guides

    guides, _ = load_guides(kb)
    assert {g.id: g for g in guides} == tiny_index.guides
    assert tiny_index.vectors.shape == (len(tiny_index.units), 256)
    assert tiny_index.meta["model_id"] == "hashing-256"


def test_load_index_refuses_another_model(kb, index_dir, encoder):
    build(kb, index_dir, encoder)
    with pytest.raises(IndexLoadError, match="hashing-256"):
        load_index(index_dir, expected_model="some/other-model")
    assert load_index(index_dir, expected_model="hashing-256").meta["model_id"] == "hashing-256"
    assert load_index(index_dir).vectors is not None  # no expectation: no check


def test_load_index_without_any_build(index_dir):
    with pytest.raises(IndexLoadError, match="no published index"):
        load_index(index_dir)


def test_current_pointing_at_a_missing_build(kb, index_dir, encoder):
    build(kb, index_dir, encoder)
    (index_dir / "CURRENT").write_text("does-not-exist\n", encoding="utf-8")
    with pytest.raises(IndexLoadError, match="unreadable"):
        load_index(index_dir)


@pytest.mark.parametrize(
    "damage",
    ["garbage_units", "units_wrong_fields", "no_meta", "guides_not_a_list", "vectors_wrong_shape", "future_format"],
)
def test_unreadable_build_raises_index_load_error(kb, index_dir, encoder, damage):
    path, _, _ = build(kb, index_dir, encoder)
    if damage == "garbage_units":
        (path / "units.jsonl").write_text("{not json at all\n", encoding="utf-8")
    elif damage == "units_wrong_fields":
        (path / "units.jsonl").write_text('{"guide": "x", "body": "y"}\n', encoding="utf-8")
    elif damage == "no_meta":
        (path / "meta.json").unlink()
    elif damage == "guides_not_a_list":
        (path / "guides.json").write_text('{"a": 1}', encoding="utf-8")
    elif damage == "vectors_wrong_shape":
        np.save(path / "dense.npy", np.zeros((2, 256), dtype=np.float32))
    elif damage == "future_format":
        meta = read_meta(path)
        meta["format"] = FORMAT_VERSION + 1
        (path / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(IndexLoadError):
        load_index(index_dir)


def test_embedding_cache_survives_a_corrupt_cache_file(kb, index_dir, _isolated_cache):
    cache = _isolated_cache / "tro-ly-dvc" / "embeddings"
    cache.mkdir(parents=True)
    (cache / "hashing-256.npz").write_bytes(b"not a numpy file")
    encoder = CountingEncoder()
    path, _, _ = build(kb, index_dir, encoder)
    assert read_meta(path)["embedded"] == len(unique_unit_texts(kb))
    assert load_index(index_dir).vectors is not None


def test_content_hash_changes_with_content_and_model(kb):
    from retrieval.documents import load_guides

    guides, _ = load_guides(kb)
    base = index_mod.content_hash(guides, "hashing-256")
    assert index_mod.content_hash(list(reversed(guides)), "hashing-256") == base  # order does not matter
    assert index_mod.content_hash(guides, "other-model") != base
    (kb / "vneid_activate.md").write_text(
        GUIDES["vneid_activate"].replace("mã kích hoạt", "mã xác thực"), encoding="utf-8"
    )
    changed, _ = load_guides(kb)
    assert index_mod.content_hash(changed, "hashing-256") != base


def test_content_hash_does_not_depend_on_where_the_folder_is(tmp_path):
    from retrieval.documents import load_guides

    first, _ = load_guides(write_kb(tmp_path / "clone-a" / "knowledge"))
    second, _ = load_guides(write_kb(tmp_path / "clone-b" / "knowledge"))
    assert index_mod.content_hash(first, "hashing-256") == index_mod.content_hash(second, "hashing-256")
