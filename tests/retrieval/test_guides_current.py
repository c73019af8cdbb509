"""Every guide, rendered as citizens read it with the default configuration, is true today.

The rendered text (placeholders filled from ``core.settings`` defaults) must contain no outdated
term of ``knowledge/outdated.yml`` (outside the sections a guide declares as history) and no
figure the facts sheet marks unconfirmed (phone numbers, fees, time limits) in a sentence that
does not say so. A second test checks that ``outdated.yml`` covers every such figure of the facts
sheet (``../shared/domain/topics.md``, outside the repository).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.settings import load_settings
from retrieval.documents import Guide, Section, load_guides, render
from retrieval.outdated import Block, Problem, body_blocks, load_rules, scan, text_blocks

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge"
FACTS = ROOT.parent / "shared" / "domain" / "topics.md"
SETTINGS_VARIABLES = ("HOTLINE_NUMBER", "HOTLINE_NAME", "HOTLINE_HOURS", "PROVINCE_NAME")


@pytest.fixture(scope="module")
def rules():
    loaded, errors = load_rules(KNOWLEDGE)
    assert errors == []
    return loaded


@pytest.fixture(scope="module")
def guides() -> list[Guide]:
    loaded, problems = load_guides(KNOWLEDGE)
    assert not [p for p in problems if p.severity == "error"]
    return [g for g in loaded if g.kind == "guide"]


@pytest.fixture()
def defaults(monkeypatch) -> dict[str, str]:
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return load_settings().hotline.placeholders()


def rendered_blocks(guide: Guide, values: dict[str, str]) -> list[Block]:
    """What citizens can be shown of a guide (title, summary, agency, sections), as scan blocks."""
    blocks = [Block(render(guide.title, values), "", [(0, 1)])]
    blocks += text_blocks(render(guide.summary, values), "", 2)
    if guide.agency:
        blocks.append(Block(render(guide.agency, values), "", [(0, 2)]))
    for section in guide.sections:
        lines = [f"## {section.heading}", *render(section.text, values).split("\n")]
        blocks += body_blocks(lines, section.line)
    return blocks


def problems_of(guide: Guide, values: dict[str, str], rules) -> list[Problem]:
    return scan(rendered_blocks(guide, values), rules, guide.id, render(guide.title, values), set(guide.exceptions))


def test_defaults_are_true_today(defaults):
    assert defaults == {
        "hotline": "1022",
        "hotline_name": "Tổng đài 1022",
        "hotline_hours": "",
        "province": "Thành phố Hồ Chí Minh",
    }


def test_every_rendered_guide_is_current_and_hedged(guides, defaults, rules):
    assert len(guides) >= 43
    failures = [f"{g.id}:{p.line}: {p.message}" for g in guides for p in problems_of(g, defaults, rules)]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("hours", ["", "7h30-17h"])
def test_replies_read_naturally_with_and_without_hours(guides, defaults, hours):
    values = {**defaults, "hotline_hours": hours}
    for guide in guides:
        texts = [render(t, values) for t in (guide.summary, guide.agency, *(s.text for s in guide.sections))]
        for text in texts:
            assert "{" not in text, (guide.id, text)
            # No empty brackets or punctuation left hanging where the hours were ("gọi 1022 ()", "1022 .").
            assert not re.search(r"\(\s*\)|\s[,.;)](?=\s|$)|\(\s", text), (guide.id, text)
    with_hours = [render(s.text, values) for g in guides for s in g.sections if "{hotline_hours}" in s.text]
    assert with_hours and all((f"({hours})" in t) == bool(hours) for t in with_hours)


def test_the_check_fails_on_an_outdated_or_unhedged_guide(defaults, rules):
    """The test above can fail: the same rendering finds what the corrections removed."""
    stale = Guide(
        id="dvc_criminal_record",
        title="Phiếu lý lịch tư pháp",
        summary="Nộp tại Sở Tư pháp {province}.",
        questions=["?"],
        sources=[],
        updated="2026-12-05",
        sections=[
            Section("Lệ phí", "- Lệ phí 200.000 đồng, trả kết quả sau 10 ngày làm việc.", 40),
            Section("Nơi nộp", "Đến công an xã, phường, thị trấn; gọi {hotline} 24/7.", 44),
        ],
    )
    found = problems_of(stale, {**defaults, "province": "Bình Dương"}, rules)
    messages = " | ".join(p.message for p in found)
    for term in ('"Sở Tư pháp"', '"Bình Dương"', '"thị trấn"', '"24/7"', '"200.000 đồng"', '"10 ngày làm việc"'):
        assert term in messages, term
    assert {p.line for p in found} == {2, 41, 45}


# --------------------------------------------------------------------------- the facts sheet's unconfirmed figures

# Figures in an "unconfirmed" bullet of the facts sheet that the sheet sources elsewhere.
SOURCED_ELSEWHERE = {
    ("support_national_hotline", "1900 0368"),  # the bullet's unconfirmed part is the call charge
    ("dvc_permanent_residence", "2 ngày làm việc"),  # newborns: sourced under dvc_birth_registration
}
_TOPIC = re.compile(r"^## (\w+) — ")
_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d,])")
_PHONE = re.compile(r"(?<!\d)(1[89]00)[ .]?(\d{4})(?!\d)|(?<![\d.])(0\d{3})\.(\d{4})(?!\d)")
_DURATION = re.compile(r"(\d+)\s+(working days|minutes|months|years)")
_UNITS = {"working days": "ngày làm việc", "minutes": "phút", "months": "tháng", "years": "năm"}


def unconfirmed_figures(text: str) -> list[tuple[str | None, str]]:
    """(topic id or None for the corrections, figure written as a guide would) in unconfirmed bullets."""
    figures, topic = [], None
    for line in text.split("\n"):
        heading = _TOPIC.match(line)
        if heading or line.startswith("## "):
            topic = heading.group(1) if heading else None
            continue
        if "unconfirmed" not in line.lower() or line.lstrip().startswith("- Sources"):
            continue
        figures += [(topic, m.group(1).replace(",", ".") + " đồng") for m in _AMOUNT.finditer(line)]
        for m in _PHONE.finditer(line):
            figures.append((topic, f"{m.group(1)} {m.group(2)}" if m.group(1) else f"{m.group(3)}.{m.group(4)}"))
        figures += [(topic, f"{m.group(1)} {_UNITS[m.group(2)]}") for m in _DURATION.finditer(line)]
    return figures


def test_unconfirmed_figures_parse_from_the_sheet_format():
    sample = (
        "## dvc_passport — Hộ chiếu  [partly sourced]\n"
        "- Fee (**unconfirmed**): ~VND 200,000; re-issue ~VND 400,000. Time (**unconfirmed**): ~8 working days.\n"
        "- Sourced: VND 500,000 fine.\n"
        "## Corrections\n- Old mobile form 0274.1022 is **unconfirmed**; 18001096 too.\n"
    )
    assert unconfirmed_figures(sample) == [
        ("dvc_passport", "200.000 đồng"),
        ("dvc_passport", "400.000 đồng"),
        ("dvc_passport", "8 ngày làm việc"),
        (None, "0274.1022"),
        (None, "1800 1096"),
    ]


@pytest.mark.skipif(not FACTS.exists(), reason="the facts sheet lives outside the repository (../shared)")
def test_outdated_yml_covers_every_unconfirmed_figure_of_the_facts_sheet(rules):
    figures = unconfirmed_figures(FACTS.read_text(encoding="utf-8"))
    assert len(figures) >= 15
    missing = []
    for topic, figure in figures:
        if (topic, figure) in SOURCED_ELSEWHERE:
            continue
        covered = [
            r
            for r in rules.unconfirmed + rules.outdated
            if r.regex.search(figure) and (topic is None or not r.topics or topic in r.topics)
        ]
        if not covered:
            missing.append(f"{topic}: {figure}")
    assert missing == [], "add these to knowledge/outdated.yml (unconfirmed):\n" + "\n".join(missing)
