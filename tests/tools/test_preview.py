"""Tests for tools/preview.py (``make preview Q="..."``): offline, HashingEncoder, tmp folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.settings import load_settings
from tools import preview as preview_module
from retrieval import service as service_module
from retrieval.encoders import HashingEncoder
from retrieval.index import build_index, load_index
from tools.preview import build_report, main
from retrieval.decision import Thresholds
from retrieval.search import Searcher

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("vneid_passcode", "vneid_forgot_password", "dvc_passport")
# The calibrated thresholds in retrieval/thresholds.json are for EmbeddingGemma; the HashingEncoder's
# trigram "dense" scores run higher, so the tests pin thresholds that suit it.
HASHING_THRESHOLDS = Thresholds(
    dense_weight=0.5, top_k=2, answer=0.6, margin=0.03, clarify_floor=0.6, context_bonus=0.08
)


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A tiny knowledge folder (three real guides), hashing model, private cache, pinned thresholds."""
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    for guide in GUIDES:
        shutil.copy(ROOT / "knowledge" / f"{guide}.md", knowledge)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("DVC_KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setenv("DVC_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.delenv("DVC_ANSWER_THRESHOLD", raising=False)
    monkeypatch.delenv("DVC_MARGIN_THRESHOLD", raising=False)
    monkeypatch.setattr(Thresholds, "load", classmethod(lambda cls, path=None: HASHING_THRESHOLDS))
    monkeypatch.setattr(service_module._service, "value", None)  # a fresh process-wide service
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_preview_from_a_folder_shows_the_guide_and_the_decision(env, capsys):
    code, out, _ = run(capsys, "quên passcode vneid", "--knowledge", "knowledge")
    assert code == 0, out
    assert "chỉ mục tạm dựng từ thư mục --knowledge (chưa đăng)" in out
    assert "QUYẾT ĐỊNH: TRẢ LỜI theo bài vneid_passcode" in out
    assert "Lý do: Bài vneid_passcode đạt " in out and "ngưỡng trả lời 0.600" in out
    ranking = [line for line in out.splitlines() if line.startswith("   1  ")]
    assert ranking and "vneid_passcode" in ranking[0] and "[knowledge/vneid_passcode.md]" in ranking[0]
    assert "Ngưỡng: trả lời khi điểm bài đầu ≥ 0.600 và hơn bài thứ hai ≥ 0.030" in out
    citizen = out.split("Người dân sẽ thấy:")[1]
    assert "📌 Mã bảo vệ (passcode)" in citizen and "[ 👍 Có ]" in citizen
    assert "{hotline" not in citizen and "{province}" not in citizen


def test_preview_json_has_the_decision_ranking_and_answer_text(env, capsys):
    code, out, _ = run(capsys, "quen mat khau vneid", "--knowledge", "knowledge", "--json")
    assert code == 0
    report = json.loads(out)
    assert {"decision", "ranking", "answer_text"} <= set(report)
    assert report["decision"] == "answer" and report["guide_ids"] == ["vneid_forgot_password"]
    assert report["restored_query"] == "quên mật khẩu vneid"
    top = report["ranking"][0]
    assert top["id"] == "vneid_forgot_password" and top["rank"] == 1
    assert {"score", "lexical", "dense"} <= set(top) and top["dense"] > 0
    assert len(report["ranking"]) == len(GUIDES)
    assert report["thresholds"]["answer"] == HASHING_THRESHOLDS.answer
    assert report["search"] == "hybrid" and report["index"]["source"] == "temporary"
    assert report["answer_text"].startswith("📌 Quên mật khẩu đăng nhập VNeID")
    assert report["section"] is not None


def test_preview_abstains_on_a_topic_without_a_guide(env, capsys):
    code, out, _ = run(capsys, "thủ tục cấp giấy phép karaoke", "--knowledge", "knowledge", "--json")
    report = json.loads(out)
    assert code == 0 and report["decision"] == "abstain"
    assert report["decision_label"] == "không trả lời, chuyển tổng đài viên"
    assert "thấp hơn ngưỡng trả lời" in report["reason"]
    assert "tổng đài viên" in report["answer_text"] and "[ Gặp tổng đài viên ]" in report["answer_text"]
    assert "1022" in report["answer_text"]  # the configured hotline, not a placeholder


def test_preview_uses_the_published_index_by_default(env, capsys):
    knowledge = env / "knowledge"
    build, _ = build_index(knowledge, env / "index", HashingEncoder(), log=lambda *_: None)
    code, out, _ = run(capsys, "quên passcode vneid")
    assert code == 0
    assert f"Nguồn: chỉ mục đang dùng {build.name}" in out
    assert "QUYẾT ĐỊNH: TRẢ LỜI theo bài vneid_passcode" in out
    assert "LƯU Ý" not in out
    # An edited but unpublished guide: the preview says the index is behind the folder.
    guide = knowledge / "dvc_passport.md"
    guide.write_text(guide.read_text(encoding="utf-8") + "\nThêm một dòng.\n", encoding="utf-8")
    code, out, _ = run(capsys, "quên passcode vneid")
    assert code == 0 and "đã thay đổi so với chỉ mục đang dùng" in out


def test_preview_without_a_published_index_says_what_to_do(env, capsys):
    code, out, err = run(capsys, "quên passcode vneid")
    assert code == 1 and out == ""
    assert "chưa có chỉ mục đã đăng" in err and "make index" in err


def test_preview_falls_back_to_lexical_search_with_a_warning(env, capsys, monkeypatch):
    monkeypatch.setenv("DVC_EMBEDDING_MODEL", str(env / "khong_co_mo_hinh"))
    code, out, _ = run(capsys, "quên passcode vneid", "--knowledge", "knowledge")
    assert code == 0
    assert "LƯU Ý: không tải được mô hình ngữ nghĩa" in out and "tìm theo CHỈ từ khóa" in out
    assert "QUYẾT ĐỊNH: TRẢ LỜI theo bài vneid_passcode" in out


def test_preview_does_not_prune_the_shared_embedding_cache(env, capsys):
    # Publish the three guides, then preview a folder holding only one of them.
    build_index(env / "knowledge", env / "index", HashingEncoder(), log=lambda *_: None)
    cache = next((env / "cache").rglob("*.npz"))
    before = cache.read_bytes()
    single = env / "single"
    single.mkdir()
    shutil.copy(env / "knowledge" / "vneid_passcode.md", single)
    code, _, _ = run(capsys, "quên passcode vneid", "--knowledge", "single")
    assert code == 0 and cache.read_bytes() == before


def test_preview_reports_a_folder_without_valid_guides(env, capsys):
    empty = env / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "quên passcode vneid", "--knowledge", "empty")
    assert code == 1 and "không có bài hướng dẫn hợp lệ" in err


def test_clarify_is_explained_and_offers_the_close_guides(env):
    build_index(env / "knowledge", env / "index", HashingEncoder(), log=lambda *_: None)
    # Thresholds that make any two matching guides "close": the bot must ask which one.
    loose = Thresholds(dense_weight=0.5, top_k=2, answer=0.1, margin=1.0, clarify_floor=0.1)
    searcher = Searcher(load_index(env / "index"), HashingEncoder(), loose)
    report = build_report("quên mật khẩu hay passcode vneid", searcher, load_settings(), "published")
    assert report["decision"] == "clarify" and len(report["guide_ids"]) >= 2
    assert "quá gần nhau nên chatbot hỏi lại" in report["reason"]
    assert "Bạn đang hỏi về nội dung nào?" in report["answer_text"]
    assert "[ Không phải các mục trên ]" in report["answer_text"]
    assert "hỏi lại để người dân chọn bài" in preview_module.format_report(report).lower()


def test_empty_question_is_refused(env, capsys):
    code, _, err = run(capsys, "   ")
    assert code == 1 and "Hãy nhập câu hỏi" in err
