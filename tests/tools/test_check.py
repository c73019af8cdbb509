"""Tests for tools/check.py (``make check-knowledge``): fast, offline, on copies in tmp_path."""

from __future__ import annotations

import datetime as dt
import shutil
import unicodedata
from pathlib import Path

import pytest

from tools.check import (
    NEAR_DUPLICATE,
    QuestionRef,
    check_knowledge,
    format_problem,
    main,
    near_duplicates,
)

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"

# A small, valid guide on a topic the real folder does not cover; tests break it in various ways.
NEW_GUIDE = """---
id: {id}
title: Xin giấy phép kinh doanh dịch vụ karaoke
summary: >-
  Muốn mở quán karaoke, bạn nộp hồ sơ xin giấy phép kinh doanh dịch vụ karaoke trên Cổng Dịch vụ
  công hoặc tại bộ phận một cửa.
agency: Ủy ban nhân dân xã, phường
questions:
{questions}
tags: {tags}
sources:
  - https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh.html
updated: {updated}
reviewed: {reviewed}
legal: [Luật Cư trú 2020]
---

## Nộp hồ sơ xin giấy phép karaoke
1. Chuẩn bị đơn đề nghị cấp giấy phép kinh doanh dịch vụ karaoke.
2. Nộp hồ sơ tại bộ phận một cửa của {{province}}.
{extra}
"""
KARAOKE_QUESTIONS = [
    "Thủ tục xin giấy phép kinh doanh karaoke gồm những gì?",
    "xin giay phep karaoke o dau",
    "mở quán karaoke cần xin giấy phép gì",
    "cấp giấy phép karaoke nộp hồ sơ online được ko",
    "giấy phép kinh doanh dịch vụ karaoke do cơ quan nào cấp",
    "làm giấy phép karaoke mất bao lâu",
    "hồ sơ đề nghị cấp giấy phép đủ điều kiện kinh doanh karaoke",
    "quán hát karaoke có phải xin phép phường không",
]


def new_guide(
    guide_id: str = "giay_phep_karaoke",
    questions: list[str] | None = None,
    tags: str = "[karaoke]",
    updated: str = "2026-11-28",
    extra: str = "",
    reviewed: str | None = None,
) -> str:
    items = "\n".join(f"  - {q}" for q in (KARAOKE_QUESTIONS if questions is None else questions))
    reviewed = reviewed or dt.date.today().isoformat()
    return NEW_GUIDE.format(id=guide_id, questions=items, tags=tags, updated=updated, extra=extra, reviewed=reviewed)


def copy_knowledge(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    return target


def line_of(path: Path, needle: str) -> int:
    """1-based number of the first line of ``path`` containing ``needle``."""
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(list(args))
    return code, capsys.readouterr().out.splitlines()


def first_question(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").split("\n")
    return lines[lines.index("questions:") + 1].removeprefix("  - ")


# --------------------------------------------------------------------------- the real folder


@pytest.fixture(scope="module")
def real_report():
    return check_knowledge(KNOWLEDGE)


def test_real_knowledge_folder_has_no_errors(real_report):
    assert real_report.errors == [], "\n".join(format_problem(p) for p in real_report.errors)
    assert real_report.files >= 40 and real_report.guides == real_report.files
    assert real_report.routes > 0


def test_real_folder_through_the_command(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out = run(capsys, "--knowledge", "knowledge")
    assert code == 0
    assert out[-1].startswith("Đã kiểm tra ") and " 0 lỗi, " in out[-1]


# --------------------------------------------------------------------------- errors


@pytest.fixture()
def broken(tmp_path, monkeypatch):
    """A copy of knowledge/ with one of each error and a question copied into another guide."""
    folder = copy_knowledge(tmp_path)
    monkeypatch.chdir(tmp_path)
    where = {}
    # Bad YAML: an unquoted ": " inside the title.
    passcode = folder / "vneid_passcode.md"
    old_title = next(line for line in passcode.read_text(encoding="utf-8").split("\n") if line.startswith("title:"))
    edit(passcode, old_title + "\n", "title: Quên: mã bảo vệ VNeID\n")
    where["yaml"] = line_of(passcode, "title: Quên: mã bảo vệ")
    # Missing title: the field is there but empty.
    airport = folder / "vneid_airport.md"
    old_title = next(line for line in airport.read_text(encoding="utf-8").split("\n") if line.startswith("title:"))
    edit(airport, old_title + "\n", "title:\n")
    where["title"] = line_of(airport, "title:")
    # Duplicate id: a new, otherwise valid file that reuses an existing id.
    (folder / "zz_ban_sao.md").write_text(new_guide("vneid_qr_sharing"), encoding="utf-8")
    where["dup"] = line_of(folder / "zz_ban_sao.md", "id: vneid_qr_sharing")
    # A typo in a placeholder.
    passport = folder / "dvc_passport.md"
    passport.write_text(
        passport.read_text(encoding="utf-8").rstrip("\n") + "\nGọi {hotlne} nếu cần hỏi thêm.\n", encoding="utf-8"
    )
    where["placeholder"] = line_of(passport, "{hotlne}")
    # A question of vneid_lock_unlock copied (without diacritics) into dvc_track_status.
    stolen = first_question(folder / "vneid_lock_unlock.md")
    where["original"] = line_of(folder / "vneid_lock_unlock.md", stolen)
    folded = unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", stolen) if not unicodedata.combining(c))
    ).replace("đ", "d")
    edit(folder / "dvc_track_status.md", "questions:\n", f"questions:\n  - {folded}\n")
    where["stolen"] = line_of(folder / "dvc_track_status.md", folded)
    return folder, where


def test_broken_copy_reports_each_problem_with_file_and_line(broken, capsys):
    folder, where = broken
    code, out = run(capsys, "--knowledge", str(folder))
    text = "\n".join(out)
    assert code == 1, text

    def line(prefix: str) -> str:
        found = [o for o in out if o.startswith(prefix)]
        assert found, f"no line starting with {prefix!r} in:\n{text}"
        return found[0]

    assert "YAML sai cú pháp" in line(f"knowledge/vneid_passcode.md:{where['yaml']}: LỖI: ")
    assert "thiếu hoặc để trống trường bắt buộc 'title'" in line(f"knowledge/vneid_airport.md:{where['title']}: LỖI: ")
    dup = line(f"knowledge/zz_ban_sao.md:{where['dup']}: LỖI: ")
    assert "id 'vneid_qr_sharing' bị trùng" in dup and "vneid_qr_sharing.md" in dup
    typo = line(f"knowledge/dvc_passport.md:{where['placeholder']}: LỖI: ")
    assert "'{hotlne}'" in typo and "Có phải ý bạn là {hotline}?" in typo
    steal = line(f"knowledge/dvc_track_status.md:{where['stolen']}: cảnh báo: ")
    assert "câu hỏi mẫu có thể 'lấy' câu hỏi của hướng dẫn khác" in steal
    assert f"knowledge/vneid_lock_unlock.md:{where['original']}" in steal
    assert "độ giống 1.00" in steal
    summary = out[-1]
    assert "4 lỗi" in summary and "KHÔNG được đưa lên chatbot" in summary
    # The broken guides do not hide the others: all but the three unusable files still load.
    files = len([p for p in folder.glob("*.md") if p.name != "README.md"])
    assert f"Đã kiểm tra {files} tệp hướng dẫn ({files - 3} hợp lệ)" in summary


# --------------------------------------------------------------------------- warnings only


def test_warnings_only_exit_zero(tmp_path, monkeypatch, capsys):
    folder = copy_knowledge(tmp_path)
    monkeypatch.chdir(tmp_path)
    guide = folder / "giay_phep_karaoke.md"
    guide.write_text(
        new_guide(
            questions=KARAOKE_QUESTIONS[:3],
            tags='[karaoke, 1022, "giấy phép"]',
            updated="2020-01-02",
            reviewed="2020-01-02",
            extra="Cần hỏi thêm thì gọi tổng đài 1022.",
        ),
        encoding="utf-8",
    )
    nfd_line = "## Nộp hồ sơ xin giấy phép karaoke"
    edit(guide, nfd_line, unicodedata.normalize("NFD", nfd_line))
    code, out = run(capsys, "--knowledge", str(folder))
    mine = [o for o in out if o.startswith("knowledge/giay_phep_karaoke.md:")]
    text = "\n".join(mine)
    assert code == 0, "\n".join(out)
    assert all(": cảnh báo: " in o for o in mine), text
    expected = {
        line_of(guide, "questions:"): "chỉ có 3 câu hỏi mẫu",
        line_of(guide, "tags:"): "từ khóa (tags) 1022 không phải chữ (YAML hiểu là số)",
        line_of(guide, "reviewed:"): "bài rà soát lần cuối ngày 2020-01-02",
        line_of(guide, "tổng đài 1022"): "ghi cứng số tổng đài của tỉnh '1022'",
        line_of(guide, unicodedata.normalize("NFD", nfd_line)): "văn bản chưa ở dạng Unicode NFC",
    }
    for number, message in expected.items():
        assert any(o.startswith(f"knowledge/giay_phep_karaoke.md:{number}: cảnh báo: {message}") for o in mine), (
            f"{number}: {message}\n{text}"
        )
    assert "'giấy phép'" not in text  # a quoted tag is text
    assert "0 lỗi" in out[-1] and "nên xem lại các cảnh báo" in out[-1]


def test_review_age_is_configurable(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "knowledge"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    guide = folder / "giay_phep_karaoke.md"
    reviewed = (dt.date.today() - dt.timedelta(days=100)).isoformat()  # 3 whole months ago at least
    guide.write_text(new_guide(reviewed=reviewed), encoding="utf-8")
    code, out = run(capsys, "--knowledge", str(folder), "--review-months", "12")
    assert code == 0 and not any("rà soát lần cuối" in o for o in out), out
    code, out = run(capsys, "--knowledge", str(folder), "--review-months", "3")
    stale = [o for o in out if "rà soát lần cuối" in o]
    assert code == 0 and len(stale) == 1
    assert stale[0].startswith(
        f"knowledge/giay_phep_karaoke.md:{line_of(guide, 'reviewed:')}: cảnh báo: bài rà soát lần cuối ngày {reviewed}"
    )
    assert "quá 3 tháng" in stale[0]
    # Without --review-months, review_months of knowledge/outdated.yml applies.
    (folder / "outdated.yml").write_text("review_months: 2\n", encoding="utf-8")
    code, out = run(capsys, "--knowledge", str(folder))
    assert code == 0 and any("quá 2 tháng" in o for o in out), out


def test_a_valid_new_guide_adds_no_problem(tmp_path, real_report):
    folder = copy_knowledge(tmp_path)
    (folder / "giay_phep_karaoke.md").write_text(new_guide(), encoding="utf-8")
    report = check_knowledge(folder)
    assert [(Path(p.path).name, p.line, p.severity) for p in report.problems] == [
        (Path(p.path).name, p.line, p.severity) for p in real_report.problems
    ]
    assert report.guides == report.files == real_report.files + 1


def test_missing_folder_is_an_error(tmp_path, capsys):
    code, out = run(capsys, "--knowledge", str(tmp_path / "khong_co"))
    assert code == 1 and "không tìm thấy thư mục" in out[0]


# --------------------------------------------------------------------------- near duplicates


def ref(text: str, owner: str, line: int = 1) -> QuestionRef:
    return QuestionRef(text, f"{owner}.md", line, owner, f"bài {owner}")


def test_near_duplicate_threshold_separates_copies_from_neighbours():
    passcode = ["quên passcode vneid", "mã bảo vệ 6 số trong vneid quên rồi", "đặt lại mã bảo vệ vneid"]
    password = ["quên mật khẩu vneid phải làm sao", "lấy lại mật khẩu đăng nhập vneid", "đổi mật khẩu vneid"]
    questions = [ref(q, "vneid_passcode", n) for n, q in enumerate(passcode, 1)]
    questions += [ref(q, "vneid_forgot_password", n) for n, q in enumerate(password, 1)]
    assert near_duplicates(questions) == []  # different topics sharing words stay below
    # The same question without diacritics, with an abbreviation and punctuation is a copy.
    questions.append(ref("Quên MK VNeID phải làm sao?", "vneid_passcode", 9))
    pairs = near_duplicates(questions)
    assert len(pairs) == 1
    misplaced, other, value = pairs[0]
    assert value >= NEAR_DUPLICATE
    # Reported where it does not fit: among the passcode questions, not the password ones.
    assert (misplaced.owner, misplaced.line) == ("vneid_passcode", 9)
    assert other.owner == "vneid_forgot_password"


def test_questions_of_one_guide_may_be_similar():
    questions = [ref("quên passcode vneid", "a", 1), ref("quen passcode vneid", "a", 2)]
    assert near_duplicates(questions) == []


def test_routing_entries_are_compared_too(tmp_path, monkeypatch):
    folder = copy_knowledge(tmp_path)
    monkeypatch.chdir(tmp_path)
    routing = (folder / "routing.yml").read_text(encoding="utf-8")
    assert "thủ tục cấp sổ đỏ lần đầu" in routing
    (folder / "giay_phep_karaoke.md").write_text(
        new_guide(questions=KARAOKE_QUESTIONS + ["Thủ tục cấp sổ đỏ lần đầu?"]), encoding="utf-8"
    )
    karaoke_line = line_of(folder / "giay_phep_karaoke.md", "Thủ tục cấp sổ đỏ lần đầu?")
    route_line = line_of(folder / "routing.yml", "thủ tục cấp sổ đỏ lần đầu")
    report = check_knowledge(folder)
    steals = [format_problem(p) for p in report.warnings if "'lấy'" in p.message]
    assert len(steals) == 1, steals
    assert f"knowledge/giay_phep_karaoke.md:{karaoke_line}" in steals[0]
    assert f"knowledge/routing.yml:{route_line}" in steals[0]
    assert "mục uncovered_land (uncovered) của routing.yml" in steals[0]
