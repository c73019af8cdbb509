"""retrieval/documents.py: guide parsing and validation (file + line), routing.yml, render()."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from retrieval.documents import (
    REQUIRED_FIELDS,
    GuideError,
    load_guides,
    load_routes,
    parse_guide,
    render,
)
from tests.retrieval.tiny_kb import guide_text

PROJECT = Path(__file__).resolve().parents[2]
KNOWLEDGE = PROJECT / "knowledge"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(problems: list[GuideError]) -> list[GuideError]:
    return [p for p in problems if p.severity == "error"]


def line_of(text: str, start: str) -> int:
    """1-based number of the first line of ``text`` starting with ``start``."""
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(start):
            return number
    raise AssertionError(f"no line starts with {start!r}")


# ------------------------------------------------------------------ a valid guide


def test_valid_guide_parses_fields_sections_and_questions(tmp_path):
    text = guide_text(id="sample_guide", agency="Bộ Công an", tags="[vneid, mật khẩu]")
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert problems == []
    assert guide is not None
    assert guide.id == "sample_guide"
    assert guide.kind == "guide"
    assert guide.title == "Tiêu đề mẫu"
    assert guide.summary == "Tóm tắt mẫu."
    assert guide.questions == ["câu hỏi một", "câu hỏi hai"]
    assert guide.sources == ["https://example.gov.vn/mau"]
    assert guide.url == "https://example.gov.vn/mau"
    assert guide.updated == "2026-11-28"  # YAML reads a date; the guide keeps its text form
    assert guide.agency == "Bộ Công an"
    assert guide.tags == ["vneid", "mật khẩu"]
    assert [s.heading for s in guide.sections] == ["Các bước", "Khi nào cần gọi tổng đài"]
    assert [s.text for s in guide.sections] == ["1. Bước một.", "Gọi {hotline}."]
    # Section lines are 1-based lines of the "## " headings in the file.
    assert [s.line for s in guide.sections] == [line_of(text, "## Các bước"), line_of(text, "## Khi nào")]


def test_text_before_first_heading_is_a_section_without_heading(tmp_path):
    text = guide_text().replace("\n## Các bước", "Lời dẫn trước mục đầu.\n## Các bước", 1)
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert problems == []
    assert guide.sections[0].heading == ""
    assert guide.sections[0].text == "Lời dẫn trước mục đầu."
    assert guide.sections[1].heading == "Các bước"


def test_single_source_string_is_accepted_as_a_list(tmp_path):
    text = guide_text(sources="https://example.gov.vn/mot")
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert errors_of(problems) == []
    assert guide.sources == ["https://example.gov.vn/mot"]


# ------------------------------------------------------------------ errors with lines


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_missing_required_field_is_an_error(tmp_path, field):
    text = guide_text(**{field: None})
    path = write(tmp_path, "sample_guide.md", text)
    guide, problems = parse_guide(path)
    assert guide is None
    errors = errors_of(problems)
    assert len(errors) == 1
    assert f"'{field}'" in errors[0].message
    assert errors[0].path == str(path)
    assert errors[0].line == 1  # the field is nowhere: the error is about the front matter


@pytest.mark.parametrize("field", ["title", "summary", "questions", "sources"])
def test_empty_required_field_points_at_its_line(tmp_path, field):
    text = guide_text(**{field: ""})
    # guide_text writes "field: " for an empty string; YAML reads it as null.
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    errors = errors_of(problems)
    assert [e.line for e in errors] == [line_of(text, f"{field}:")]
    assert f"'{field}'" in errors[0].message


def test_empty_list_field_points_at_its_line(tmp_path):
    text = guide_text(questions="[]")
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    assert [e.line for e in errors_of(problems)] == [line_of(text, "questions:")]


def test_bad_yaml_is_reported_with_its_line(tmp_path):
    text = guide_text().replace("title: Tiêu đề mẫu", "title: Tiêu đề: thiếu dấu nháy")
    path = write(tmp_path, "sample_guide.md", text)
    guide, problems = parse_guide(path)
    assert guide is None
    assert len(problems) == 1
    assert problems[0].line == line_of(text, "title:") == 3
    assert "YAML" in problems[0].message
    assert str(problems[0]).startswith(f"{path}:3: error: ")


def test_bad_yaml_further_down_reports_that_line(tmp_path):
    text = guide_text().replace("summary: Tóm tắt mẫu.", "summary: @Tóm tắt bắt đầu bằng a còng")
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    assert [p.line for p in problems] == [line_of(text, "summary:")]


def test_missing_front_matter(tmp_path):
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", "# Chỉ có nội dung\n\n## Mục\nChữ.\n"))
    assert guide is None
    assert [(p.line, p.severity) for p in problems] == [(1, "error")]


def test_unclosed_front_matter(tmp_path):
    text = guide_text().replace("\n---\n", "\n", 1)  # drop the closing '---' of the front matter
    assert text.count("---") == 1
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    assert problems and problems[0].line == 1


def test_front_matter_that_is_not_a_mapping(tmp_path):
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", "---\n- một\n- hai\n---\n## A\nb\n"))
    assert guide is None
    assert [p.line for p in problems] == [2]


def test_empty_body_is_an_error_at_the_body_line(tmp_path):
    text = guide_text().split("\n---\n")[0] + "\n---\n\n"
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    assert [p.line for p in errors_of(problems)] == [line_of(text, "updated:") + 2]
    assert "trống" in problems[0].message


@pytest.mark.parametrize(
    "url",
    ["ftp://example.gov.vn/a", "www.example.gov.vn", "dichvucong.gov.vn", "https://example.gov.vn/có khoảng trắng"],
)
def test_non_http_source_is_an_error(tmp_path, url):
    text = guide_text(sources=["https://example.gov.vn/ok", url])
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    errors = errors_of(problems)
    assert len(errors) == 1
    assert url in errors[0].message
    assert errors[0].line == line_of(text, "sources:")


def test_bad_id_is_an_error(tmp_path):
    text = guide_text(id="Sai-Id")
    guide, problems = parse_guide(write(tmp_path, "Sai-Id.md", text))
    assert guide is None
    assert [e.line for e in errors_of(problems)] == [line_of(text, "id:")]


def test_questions_must_be_a_list_of_strings(tmp_path):
    text = guide_text(questions="một câu hỏi duy nhất")
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is None
    assert [e.line for e in errors_of(problems)] == [line_of(text, "questions:")]


def test_file_name_differing_from_id_is_only_a_warning(tmp_path):
    guide, problems = parse_guide(write(tmp_path, "other_name.md", guide_text(id="sample_guide")))
    assert guide is not None and guide.id == "sample_guide"
    assert [p.severity for p in problems] == ["warning"]


def test_nfd_text_is_a_warning_and_is_normalised(tmp_path):
    text = unicodedata.normalize("NFD", guide_text())
    guide, problems = parse_guide(write(tmp_path, "sample_guide.md", text))
    assert guide is not None
    assert [p.severity for p in problems] == ["warning"]
    assert guide.title == "Tiêu đề mẫu"  # NFC again
    assert unicodedata.is_normalized("NFC", guide.sections[0].heading)


def test_non_utf8_file_is_an_error_not_an_exception(tmp_path):
    path = tmp_path / "sample_guide.md"
    path.write_bytes(guide_text().encode("utf-16"))
    guide, problems = parse_guide(path)
    assert guide is None
    assert [p.severity for p in problems] == ["error"]


# ------------------------------------------------------------------ load_guides


def test_load_guides_skips_readme_and_broken_files(tmp_path):
    write(tmp_path, "README.md", "# Hướng dẫn cho cán bộ\nKhông phải hướng dẫn.\n")
    write(tmp_path, "good_one.md", guide_text(id="good_one"))
    write(tmp_path, "broken_one.md", guide_text(id="broken_one", title=None))
    write(tmp_path, "notes.txt", "không phải .md")
    guides, problems = load_guides(tmp_path)
    assert [g.id for g in guides] == ["good_one"]
    assert [Path(p.path).name for p in problems] == ["broken_one.md"]
    assert all("README" not in p.path for p in problems)


def test_duplicate_id_skips_the_later_file(tmp_path):
    first = write(tmp_path, "a_first.md", guide_text(id="same_id", title="Bản thứ nhất"))
    second = write(tmp_path, "b_second.md", guide_text(id="same_id", title="Bản thứ hai"))
    guides, problems = load_guides(tmp_path)
    assert [(g.id, g.title) for g in guides] == [("same_id", "Bản thứ nhất")]
    errors = errors_of(problems)
    assert len(errors) == 1
    assert errors[0].path == str(second)
    assert str(first) in errors[0].message
    assert errors[0].line == 2  # the id line


def test_duplicate_id_error_points_at_the_id_line(tmp_path):
    write(tmp_path, "a_first.md", guide_text(id="same_id"))
    text = guide_text(id=None).replace("updated: 2026-11-28", "updated: 2026-11-28\nid: same_id")
    write(tmp_path, "b_second.md", text)
    _, problems = load_guides(tmp_path)
    assert [e.line for e in errors_of(problems)] == [line_of(text, "id:")]


def test_render_fills_known_placeholders_only():
    values = {"hotline": "1022", "hotline_name": "Tổng đài 1022", "hotline_hours": "24/7", "province": "Bình Dương"}
    assert (
        render("Gọi {hotline_name} ({hotline}, {hotline_hours}) tại {province}.", values)
        == "Gọi Tổng đài 1022 (1022, 24/7) tại Bình Dương."
    )
    # Unknown names and known names without a value stay as written.
    assert render("{hotline} {unknown} {province} {}", {"hotline": "9999"}) == "9999 {unknown} {province} {}"
    assert render("không có chỗ trống", values) == "không có chỗ trống"


# ------------------------------------------------------------------ routing.yml

ROUTES = """\
handoff:
  - id: handoff_complaint
    title: Khiếu nại cán bộ
    questions:
      - tôi muốn khiếu nại cán bộ
uncovered:
  - id: uncovered_land
    title: Đất đai
    questions:
      - thủ tục cấp sổ đỏ
      - sang tên sổ hồng
"""


def test_routing_entries_load_with_their_kind(tmp_path):
    write(tmp_path, "routing.yml", ROUTES)
    routes, problems = load_routes(tmp_path)
    assert problems == []
    assert [(r.id, r.kind, r.title) for r in routes] == [
        ("handoff_complaint", "handoff", "Khiếu nại cán bộ"),
        ("uncovered_land", "uncovered", "Đất đai"),
    ]
    assert routes[1].questions == ["thủ tục cấp sổ đỏ", "sang tên sổ hồng"]
    assert all(r.sources == [] and r.sections == [] and r.url == "" for r in routes)


def test_routing_entries_are_part_of_load_guides(tmp_path):
    write(tmp_path, "routing.yml", ROUTES)
    write(tmp_path, "good_one.md", guide_text(id="good_one"))
    guides, problems = load_guides(tmp_path)
    assert problems == []
    assert {g.id: g.kind for g in guides} == {
        "good_one": "guide",
        "handoff_complaint": "handoff",
        "uncovered_land": "uncovered",
    }


def test_no_routing_file_is_fine(tmp_path):
    assert load_routes(tmp_path) == ([], [])


def test_bad_group_name_is_an_error_and_other_groups_still_load(tmp_path):
    path = write(tmp_path, "routing.yml", ROUTES + "forbidden:\n  - id: x\n    title: y\n    questions: [z]\n")
    routes, problems = load_routes(tmp_path)
    assert [r.id for r in routes] == ["handoff_complaint", "uncovered_land"]
    assert len(problems) == 1
    assert problems[0].path == str(path)
    assert "'forbidden'" in problems[0].message


def test_routing_entry_without_questions_is_an_error(tmp_path):
    write(tmp_path, "routing.yml", "handoff:\n  - id: only_id\n    title: Chỉ có tiêu đề\n")
    routes, problems = load_routes(tmp_path)
    assert routes == []
    assert len(problems) == 1 and "only_id" in problems[0].message


def test_routing_bad_yaml_reports_its_line(tmp_path):
    write(tmp_path, "routing.yml", "handoff:\n  - id: a\n    title: b: c\n")
    routes, problems = load_routes(tmp_path)
    assert routes == []
    assert [p.line for p in problems] == [3]


def test_routing_id_clashing_with_a_guide_is_skipped(tmp_path):
    write(tmp_path, "handoff_complaint.md", guide_text(id="handoff_complaint"))
    write(tmp_path, "routing.yml", ROUTES)
    guides, problems = load_guides(tmp_path)
    assert {g.id: g.kind for g in guides} == {"handoff_complaint": "guide", "uncovered_land": "uncovered"}
    assert len(errors_of(problems)) == 1 and "handoff_complaint" in problems[0].message


def test_routing_questions_given_as_a_string_are_not_split_into_characters(tmp_path):
    write(tmp_path, "routing.yml", "handoff:\n  - id: handoff_x\n    title: Khiếu nại\n    questions: khiếu nại\n")
    routes, problems = load_routes(tmp_path)
    # Either an error (as for guides) or one question; never one question per character.
    assert problems or routes[0].questions == ["khiếu nại"]


# ------------------------------------------------------------------ the real knowledge folder


def test_all_real_guides_load_without_errors():
    guides, problems = load_guides(KNOWLEDGE)
    assert problems == [], "\n".join(map(str, problems))
    real = [g for g in guides if g.kind == "guide"]
    files = sorted(p.stem for p in KNOWLEDGE.glob("*.md") if p.name.lower() != "readme.md")
    assert sorted(g.id for g in real) == files
    assert len(real) >= 43
    for guide in real:
        assert Path(guide.path).stem == guide.id
        assert len(guide.questions) >= 12, guide.id
        # A repeated sample question counts twice in the top-k mean that scores a guide.
        assert len(set(guide.questions)) == len(guide.questions), f"{guide.id}: duplicate sample questions"
        assert guide.sources and all(s.startswith(("https://", "http://")) for s in guide.sources), guide.id
        assert guide.sections, guide.id
        assert guide.summary and guide.title and guide.updated, guide.id


def test_real_routing_entries_load():
    routes, problems = load_routes(KNOWLEDGE)
    assert problems == []
    assert {r.kind for r in routes} == {"handoff", "uncovered"}
    assert all(r.id.startswith(f"{r.kind}_") for r in routes)
    assert all(len(r.questions) >= 3 for r in routes)


def test_real_guides_never_hard_code_the_province_hotline():
    """docs/guide-format.md: the province number comes from {hotline}, never written out."""
    guides, _ = load_guides(KNOWLEDGE)
    for guide in guides:
        if guide.kind != "guide" or guide.id.startswith("support_hotline_"):
            continue
        texts = [guide.summary] + [s.text for s in guide.sections]
        offenders = [t for t in texts if "1022" in t]
        assert not offenders, f"{guide.id} writes 1022 instead of {{hotline}}"


def test_render_prints_hours_only_when_configured():
    values = {
        "hotline": "1022",
        "hotline_name": "Tổng đài 1022",
        "hotline_hours": "",
        "province": "Thành phố Hồ Chí Minh",
    }
    assert render("Gọi {hotline} ({hotline_hours}) tại {province}.", values) == "Gọi 1022 tại Thành phố Hồ Chí Minh."
    assert render("gọi {hotline} ({hotline_hours})\nhoặc đến công an", values) == "gọi 1022\nhoặc đến công an"
    values["hotline_hours"] = "7h30-17h"
    assert render("Gọi {hotline} ({hotline_hours}).", values) == "Gọi 1022 (7h30-17h)."
    # Without a value for hotline_hours at all the placeholder stays, as for any unknown value.
    assert render("Gọi {hotline} ({hotline_hours}).", {"hotline": "1022"}) == "Gọi 1022 ({hotline_hours})."
