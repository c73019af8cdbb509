"""Tests for retrieval/outdated.py and how ``make check-knowledge`` reports outdated or unhedged text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.check import check_knowledge, format_problem, main
from retrieval.outdated import Block, body_blocks, load_rules, scan, since_vi

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="module")
def rules():
    loaded, errors = load_rules(KNOWLEDGE)
    assert errors == []
    return loaded


def found(rules, text: str, guide_id: str = "", title: str = "", section: str = "") -> list[str]:
    """The problems :func:`scan` reports for one paragraph."""
    return [p.message for p in scan([Block(text, section, [(0, 7)])], rules, guide_id, title)]


def test_the_real_rules_cover_the_2025_reforms(rules):
    shown = " | ".join(r.shown for r in rules.outdated)
    for term in ("thị trấn", "Bình Dương", "Sở Tư pháp", "Tổng cục Thuế", "13/2023", "CCCD", "24/7", "0274"):
        assert term in shown, term
    assert rules.review_months == 6 and "chưa có xác nhận" in rules.hedges
    assert all(r.replace and r.since and r.reason for r in rules.outdated)


@pytest.mark.parametrize(
    "text",
    [
        "Đến công an xã, phường, thị trấn nơi bạn ở.",
        "Liên hệ công an huyện để được hỗ trợ.",
        "Tổng đài 1022 Bình Dương hỗ trợ người dân.",
        "Gọi 0274.1022 từ điện thoại di động.",
        "Tổng đài 1022 hoạt động 24/7.",
        "Cơ quan thuế (Tổng cục Thuế) quản lý mã số thuế.",
        "Dữ liệu được bảo vệ theo Nghị định 13/2023/NĐ-CP.",
        "Bạn cần thẻ CCCD gắn chip.",
    ],
)
def test_outdated_terms_are_found(rules, text):
    messages = found(rules, text)
    assert len(messages) == 1 and messages[0].startswith("thông tin lỗi thời"), messages
    assert "Hãy viết:" in messages[0] and "knowledge/outdated.yml" in messages[0]


@pytest.mark.parametrize(
    "text",
    [
        "Trước đây tổng đài 1022 Bình Dương hoạt động 24/7.",  # history, said so
        "Từ 1/7/2025 không còn thị trấn.",
        "Nghị định 69/2024 thay thế Nghị định 59/2022 từ 1/7/2024.",
        "Bạn cần thẻ căn cước hoặc thẻ căn cước công dân gắn chip.",
        'Chọn "Xác thực NFC bằng thẻ CCCD gắn chip" rồi áp thẻ căn cước của bạn.',  # a menu label, quoted
        "PayGov hoạt động từ 24/7/2020.",  # a date, not opening hours
        "Đến thị trấnx.",  # not the whole word
    ],
)
def test_history_labels_and_lookalikes_are_not_errors(rules, text):
    assert found(rules, text) == []


def test_a_term_near_another_needs_both(rules):
    # "Sở Tư pháp" is outdated only about criminal records (it still handles other matters).
    assert found(rules, "Nộp hồ sơ cho Sở Tư pháp.", title="Phiếu lý lịch tư pháp")
    assert found(rules, "Nộp hồ sơ cho Sở Tư pháp.", section="Xin phiếu lý lịch tư pháp")
    assert found(rules, "Nộp hồ sơ cho Sở Tư pháp.", title="Chứng thực bản sao") == []


def test_unconfirmed_figures_need_a_hedge_in_their_sentence(rules):
    guide = "vneid_criminal_record"
    bare = found(rules, "Lệ phí là 200.000 đồng. Thời hạn 10 ngày làm việc.", guide)
    assert len(bare) == 2 and all("chưa được xác nhận trong tài liệu nguồn" in m for m in bare), bare
    hedged = "Lệ phí thường được nêu là 200.000 đồng (chưa có xác nhận chính thức, bạn nên hỏi lại cơ quan tiếp nhận)."
    assert found(rules, hedged, guide) == []
    # The hedge must be in the same sentence, not the next one.
    assert found(rules, "Lệ phí là 200.000 đồng. Điều này chưa có xác nhận chính thức.", guide)
    # Rules with topics apply to those guides only.
    assert found(rules, "Phạt 500.000 - 1.000.000 đồng.", "vneid_residence_info") == []
    assert found(rules, "Gọi 1800 1096 để được hỗ trợ.", "dvc_submit_dossier")


def test_a_hedged_lead_in_covers_its_list(rules):
    lines = [
        "## Các bước",
        "Các bước dưới đây chưa có xác nhận chính thức:",
        "1. Nộp 200.000 đồng.",
        "2. Chờ 10 ngày.",
        "",
        "Sau đó nhận 2 bản trong 5 ngày.",
    ]
    problems = scan(body_blocks(lines, 40), rules, "dvc_criminal_record")
    assert [p.line for p in problems] == [45], problems  # only the paragraph after the list


def test_exempt_sections_skip_outdated_terms_but_not_unconfirmed_figures(rules):
    lines = ["## Lịch sử", "- Tổng đài 1022 Bình Dương hoạt động 24/7, lệ phí 200.000 đồng."]
    blocks = body_blocks(lines, 10)
    assert len(scan(blocks, rules, "dvc_passport")) == 3
    left = scan(blocks, rules, "dvc_passport", exempt={"Lịch sử"})
    assert [p.line for p in left] == [11] and "200.000" in left[0].message


def test_since_is_shown_as_staff_write_dates():
    assert since_vi("2025-07-01") == "1/7/2025"
    assert since_vi("2025") == "năm 2025"


def test_a_broken_rules_file_is_reported_with_lines(tmp_path):
    (tmp_path / "outdated.yml").write_text(
        "review_months: nhiều\n"
        "outdated:\n"
        "  - pattern: '(huyện'\n"
        "    replace: xã\n"
        "    since: 2025-07-01\n"
        "    reason: bỏ cấp huyện\n"
        "  - term: thị trấn\n"
        "    since: 1/7/2025\n"
        "  - term: quận\n"
        "    replace: phường\n"
        "    since: '2025'\n"
        "    reason: bỏ cấp huyện\n"
        "unconfirmed:\n"
        "  - pattern: '1800'\n",
        encoding="utf-8",
    )
    rules, errors = load_rules(tmp_path)
    messages = dict(errors)
    assert "review_months" in messages[1]
    assert "biểu thức chính quy sai" in messages[3]
    assert "thiếu replace, reason" in messages[7]
    assert "thiếu 'what'" in messages[14]
    assert [r.shown for r in rules.outdated] == ["quận"] and rules.review_months == 6


# --------------------------------------------------------------------------- through make check-knowledge


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    target = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, target)
    monkeypatch.chdir(tmp_path)
    return target


def replace_in(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (once) and return the 1-based line where ``new`` starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def test_outdated_text_is_an_error_with_file_and_line(folder, capsys):
    level2 = folder / "vneid_register_level2.md"
    line = replace_in(level2, "1. Đến công an xã, phường (công an cấp xã)", "1. Đến công an xã, phường, thị trấn")
    record = folder / "vneid_criminal_record.md"
    record_line = replace_in(record, "4. Thông tin nhân thân", "4. Nộp cho Sở Tư pháp. Thông tin nhân thân")
    code = main(["--knowledge", str(folder)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert any(
        o.startswith(f'knowledge/vneid_register_level2.md:{line}: LỖI: thông tin lỗi thời "thị trấn"')
        and "1/7/2025" in o
        and "xã, phường" in o
        for o in out
    ), out
    assert any(
        o.startswith(f'knowledge/vneid_criminal_record.md:{record_line}: LỖI: thông tin lỗi thời "Sở Tư pháp"')
        and "công an" in o
        for o in out
    ), out


def test_legal_references_are_checked_too(folder):
    privacy = folder / "support_privacy.md"
    line = replace_in(privacy, "  - Luật Bảo vệ dữ liệu cá nhân 91/2025/QH15\n", "  - Nghị định 13/2023/NĐ-CP\n")
    errors = [format_problem(p) for p in check_knowledge(folder).errors]
    assert any(e.startswith(f"knowledge/support_privacy.md:{line}: LỖI: thông tin lỗi thời") for e in errors), errors


def test_missing_review_fields_and_bad_exceptions_are_errors(folder):
    guide = folder / "vneid_passcode.md"
    replace_in(guide, "reviewed: 2026-12-05\n", "")
    replace_in(guide, "legal: []\n", "exceptions:\n  - section: Không có mục này\n")
    errors = [format_problem(p) for p in check_knowledge(folder).errors if "vneid_passcode" in p.path]
    assert any("thiếu ngày rà soát 'reviewed'" in e for e in errors), errors
    assert any("thiếu 'legal'" in e for e in errors), errors
    assert any("'exceptions' nhắc mục \"Không có mục này\"" in e for e in errors), errors


def test_an_exception_section_needs_listing_to_be_exempt(folder):
    hotline = folder / "support_hotline_1022_binhduong.md"
    replace_in(
        hotline,
        "  - section: Tổng đài 1022 Bình Dương trước khi sáp nhập\n"
        "    reason: kể lịch sử của tỉnh Bình Dương cũ, ở thì quá khứ\n",
        "",
    )
    problems = [p for p in check_knowledge(folder).problems if p.path.endswith(hotline.name)]
    # The history section now reads as a present-day claim: hard-coded hotline numbers are reported.
    assert any("ghi cứng số tổng đài" in p.message for p in problems), problems


def test_hours_placeholder_must_be_in_brackets(folder):
    guide = folder / "vneid_passcode.md"
    line = replace_in(guide, "gọi {hotline} ({hotline_hours})", "gọi {hotline}, giờ làm việc {hotline_hours}")
    errors = [format_problem(p) for p in check_knowledge(folder).errors]
    assert any(
        e.startswith(f"knowledge/vneid_passcode.md:{line}: LỖI: '{{hotline_hours}}' phải viết trong ngoặc")
        for e in errors
    ), errors


def test_an_outdated_configured_province_is_an_error(folder):
    report = check_knowledge(folder, placeholders={"province": "Bình Dương", "hotline": "1022"})
    assert [format_problem(p).split(":")[0] for p in report.errors] == ["cấu hình PROVINCE_NAME='Bình Dương'"]
    assert check_knowledge(folder, placeholders={"province": "Thành phố Hồ Chí Minh"}).errors == []
