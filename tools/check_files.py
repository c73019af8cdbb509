"""The checks of one guide file and of routing.yml for ``python -m tools.check`` (placeholders, hotline
number, review dates, outdated terms); tools/check_messages.py shows the problems found."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.documents import (
    PLACEHOLDER,
    ROUTING_FILE,
    GuideError,
    _exception_sections,
    _split_front_matter,
)
from retrieval.outdated import Block, Rules, body_blocks, months_between, scan, text_blocks

ALLOWED_PLACEHOLDERS = ("hotline", "hotline_name", "hotline_hours", "province")
# Anything in single braces that looks like a name ("{hotlne}", "{ Hotline }", "{tỉnh}") is meant
# as a placeholder; braces holding other text (a YAML flow mapping "{a: b}") are left alone.
PLACEHOLDER_LIKE = re.compile(r"\{\s*(\w+)\s*\}")
# The province hotline (docs/guide-format.md: never hard-code it; configuration fills {hotline}).
# Not part of a longer number.
HOTLINE_NUMBER = re.compile(r"(?<!\d)1022(?!\d)")
_URL = re.compile(r"https?://\S+")
# Below this many sample questions a guide is hard to find (docs/guide-format.md asks for 12-20).
MIN_QUESTIONS = 8
# "({hotline_hours})" is the only form the renderer can drop when no hours are configured.
HOURS_IN_BRACKETS = re.compile(r"\(\{hotline_hours\}\)")
# Two sample questions of different guides whose lexical similarity reaches this are near
# duplicates. The similarity is the cosine of TF-IDF vectors (IDF over all sample questions) of
# character 2-5-grams of the accent-folded, abbreviation-expanded text without punctuation: the
# representation of the lexical half of the search (retrieval/search.py). 1.0 means the same
# letters; 0.9 means the two share almost all their letter sequences, i.e. they differ only by
# diacritics, case, punctuation, abbreviations ("mk" = "mật khẩu") or one short word ("Mã bảo vệ
# VNeID dùng (để) làm gì?" scores 0.94). The search cannot tell which guide such a question
# belongs to, so one guide "takes" the other's questions. Genuinely different questions of
# neighbouring guides stay below: over the 774 sample questions of the 43 guides the closest
# pair across guides scores 0.87 ("tài khoản ... doanh nghiệp dùng đến khi nào" in two guides),
# tạm trú / thường trú variants of one sentence 0.83, and 99 % of questions are below 0.82.
NEAR_DUPLICATE = 0.9
# libyaml when available: the checks parse every front matter again, with line numbers.
_PUNCTUATION = re.compile(r"[^\w\s]")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class QuestionRef:
    """One sample question with where it is written."""

    text: str
    path: str
    line: int
    owner: str  # the guide id (or routing entry) it belongs to; pairs of one owner are not compared
    label: str  # how the owner is named in messages
    topic: str = ""  # the owner's title (and summary): what its questions should be about


@dataclass
class Report:
    """The outcome of :func:`check_knowledge`."""

    folder: Path
    problems: list[GuideError] = field(default_factory=list)
    files: int = 0
    guides: int = 0
    routes: int = 0

    @property
    def errors(self) -> list[GuideError]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[GuideError]:
        return [p for p in self.problems if p.severity != "error"]


@dataclass
class FileFacts:
    """Per-file facts used to point messages from documents.py at a more precise line."""

    id_line: int = 0
    first_non_nfc_line: int = 0


def _line(node: yaml.Node, offset: int) -> int:
    return node.start_mark.line + offset


def _mapping(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _placeholder_problems(path: str, lines: list[str]) -> list[GuideError]:
    problems = []
    for number, line in enumerate(lines, 1):
        for match in PLACEHOLDER_LIKE.finditer(line):
            if PLACEHOLDER.fullmatch(match.group(0)):
                continue
            name = match.group(1)
            close = difflib.get_close_matches(name.lower(), ALLOWED_PLACEHOLDERS, n=1, cutoff=0.6)
            hint = f" Có phải ý bạn là {{{close[0]}}}?" if close else ""
            allowed = ", ".join(f"{{{p}}}" for p in ALLOWED_PLACEHOLDERS)
            problems.append(
                GuideError(
                    path,
                    number,
                    f"ô thay thế '{match.group(0)}' không tồn tại, chatbot sẽ hiện nguyên văn cho người dân. "
                    f"Chỉ dùng: {allowed}.{hint}",
                )
            )
    return problems


def _hotline_problems(
    path: str, lines: list[str], numbers: list[int], exempt: frozenset[int] = frozenset()
) -> list[GuideError]:
    problems = []
    for number in numbers:
        if number in exempt:
            continue
        if HOTLINE_NUMBER.search(_URL.sub(" ", lines[number - 1])):  # a link may contain 1022
            problems.append(
                GuideError(
                    path,
                    number,
                    "ghi cứng số tổng đài của tỉnh '1022' trong nội dung trả lời: hãy dùng {hotline} "
                    "(và {hotline_name}), để khi tổng đài đổi số chỉ cần sửa cấu hình",
                    "warning",
                )
            )
    return problems


def _as_date(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "đúng/sai"
    if isinstance(value, (int, float)):
        return "số"
    if isinstance(value, (dt.date, dt.datetime)):
        return "ngày tháng"
    if value is None:
        return "rỗng"
    if isinstance(value, (list, dict)):
        return "danh sách hoặc nhóm"
    return type(value).__name__


def _field_lines(fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str) -> tuple[int, int]:
    """First and last file line of a front-matter field's value."""
    key_node, value = fields[key]
    last = value.end_mark.line - (1 if value.end_mark.column == 0 else 0)
    return _line(key_node, 2), max(last + 2, _line(key_node, 2))


def _field_blocks(
    lines: list[str], fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str, meta: dict
) -> list[Block]:
    """The text of a front-matter field shown to citizens (title, summary, agency) as blocks."""
    if key not in fields or not isinstance(meta.get(key), str):
        return []
    first, last = _field_lines(fields, key)
    value = fields[key][1]
    if value.start_mark.line + 2 == first and value.style in (">", "|"):
        first += 1  # "summary: >-" on its own line
        return text_blocks("\n".join(lines[first - 1 : last]), "", first)
    return [Block(str(meta[key]), "", [(0, first)])]


def _review_problems(name: str, fields: dict, meta: dict, today: dt.date, review_months: int) -> list[GuideError]:
    problems = []
    if "reviewed" not in fields or meta.get("reviewed") in (None, ""):
        problems.append(
            GuideError(
                name,
                _line(fields["updated"][0], 2) if "updated" in fields else 2,
                "thiếu ngày rà soát 'reviewed' (ngày cán bộ đối chiếu lại bài với thông tin mới nhất), ví dụ "
                f"reviewed: {today.isoformat()}",
            )
        )
    else:
        line = _line(fields["reviewed"][0], 2)
        reviewed = _as_date(meta["reviewed"])
        if reviewed is None:
            problems.append(
                GuideError(
                    name, line, f"ngày rà soát '{meta['reviewed']}' không đúng dạng năm-tháng-ngày, ví dụ 2026-12-05"
                )
            )
        elif reviewed > today:
            problems.append(GuideError(name, line, f"ngày rà soát {reviewed.isoformat()} ở tương lai", "warning"))
        elif months_between(reviewed, today) >= review_months:
            problems.append(
                GuideError(
                    name,
                    line,
                    f"bài rà soát lần cuối ngày {reviewed.isoformat()}, đã {months_between(reviewed, today)} tháng "
                    f"(quá {review_months} tháng): đối chiếu lại với thông tin mới nhất (luật, cơ quan, số điện thoại, "
                    "lệ phí) rồi sửa ngày 'reviewed'",
                    "warning",
                )
            )
    legal = meta.get("legal")
    if "legal" not in fields:
        problems.append(
            GuideError(
                name,
                _line(fields["updated"][0], 2) if "updated" in fields else 2,
                "thiếu 'legal': danh sách văn bản pháp luật bài dựa vào, ví dụ legal: [Nghị định 69/2024/NĐ-CP] "
                "(ghi legal: [] nếu bài không dựa vào văn bản nào)",
            )
        )
    elif legal is not None and not (isinstance(legal, list) and all(isinstance(x, str) and x.strip() for x in legal)):
        problems.append(
            GuideError(
                name,
                _line(fields["legal"][0], 2),
                "'legal' phải là danh sách tên văn bản, ví dụ [Luật Cư trú 2020, Nghị định 154/2024/NĐ-CP]",
            )
        )
    return problems


def _exception_problems(name: str, fields: dict, meta: dict, headings: set[str]) -> list[GuideError]:
    if "exceptions" not in fields:
        return []
    line = _line(fields["exceptions"][0], 2)
    value = meta.get("exceptions")
    if not isinstance(value, list) or not all(isinstance(i, dict) and i.get("section") for i in value):
        return [
            GuideError(
                name, line, "'exceptions' phải là danh sách các mục '- section: <tên mục ##>' kèm 'reason: <vì sao>'"
            )
        ]
    problems = []
    for item in value:
        if str(item["section"]).strip() not in headings:
            problems.append(
                GuideError(
                    name,
                    line,
                    f"'exceptions' nhắc mục \"{item['section']}\" nhưng bài không có mục '## ' nào tên như vậy",
                )
            )
        if not str(item.get("reason") or "").strip():
            problems.append(
                GuideError(
                    name,
                    line,
                    f"'exceptions': mục \"{item['section']}\" cần 'reason' (vì sao "
                    "được miễn kiểm tra, ví dụ: kể lịch sử ở thì quá khứ)",
                    "warning",
                )
            )
    return problems


def _hours_problems(name: str, lines: list[str]) -> list[GuideError]:
    problems = []
    for number, line in enumerate(lines, 1):
        if line.count("{hotline_hours}") > len(HOURS_IN_BRACKETS.findall(line)):
            problems.append(
                GuideError(
                    name,
                    number,
                    "'{hotline_hours}' phải viết trong ngoặc ngay sau số tổng đài, ví dụ 'gọi {hotline} "
                    "({hotline_hours})': khi không cấu hình giờ tiếp nhận, chatbot bỏ cả cặp ngoặc; viết cách khác "
                    "sẽ để lại câu cụt",
                )
            )
    return problems


def check_guide_file(
    path: Path,
    today: dt.date,
    rules: Rules,
    review_months: int,
    questions: list[QuestionRef],
    facts: dict[str, FileFacts],
) -> list[GuideError]:
    """Checks on one guide file that documents.py does not make."""
    name = str(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # documents.py reports it
    raw_lines = raw.split("\n")
    fact = facts.setdefault(name, FileFacts())
    fact.first_non_nfc_line = next(
        (n for n, line in enumerate(raw_lines, 1) if not unicodedata.is_normalized("NFC", line)), 0
    )
    text = unicodedata.normalize("NFC", raw)
    lines = text.split("\n")
    problems = _placeholder_problems(name, lines) + _hours_problems(name, lines)
    parts = _split_front_matter(text)
    if parts is None:
        return problems
    front, _, body_line = parts
    body_numbers = list(range(body_line, len(lines) + 1))
    try:
        root = yaml.compose(front, Loader=_LOADER)
        meta = yaml.load(front, Loader=_LOADER)  # a safe loader (no arbitrary objects)
    except yaml.YAMLError:
        return problems + _hotline_problems(name, lines, body_numbers)  # documents.py reports the YAML
    fields = _mapping(root)
    meta = meta if isinstance(meta, dict) else {}
    if "id" in fields:
        fact.id_line = _line(fields["id"][0], 2)
    owner = str(meta.get("id") or path.stem)
    topic = " ".join(str(meta.get(key) or "") for key in ("title", "summary")).strip()

    body = body_blocks(lines[body_line - 1 :], body_line)
    headings = {b.section for b in body if b.heading}
    exempt = frozenset(h for h in _exception_sections(meta.get("exceptions")) if h in headings)
    exempt_lines = frozenset(number for block in body if block.section in exempt for _, number in block.starts)
    problems += _exception_problems(name, fields, meta, headings)

    # The summary is shown to citizens too: check it with the body for a hard-coded hotline.
    summary_numbers = []
    if "summary" in fields:
        first, last = _field_lines(fields, "summary")
        summary_numbers = list(range(first, last + 1))
    problems += _hotline_problems(name, lines, sorted(set(summary_numbers) | set(body_numbers)), exempt_lines)

    # Outdated terms and unhedged unconfirmed figures: in what citizens read, and in the legal references.
    blocks = [b for key in ("title", "summary", "agency") for b in _field_blocks(lines, fields, key, meta)] + body
    if isinstance(meta.get("legal"), list) and "legal" in fields:
        legal_node = fields["legal"][1]
        items = legal_node.value if isinstance(legal_node, yaml.SequenceNode) else []
        blocks += [
            Block(str(node.value), "", [(0, _line(node, 2))]) for node in items if isinstance(node, yaml.ScalarNode)
        ]
    for found in scan(blocks, rules, owner, str(meta.get("title") or ""), exempt):
        problems.append(GuideError(name, found.line, found.message))

    if "questions" in fields:
        key, value = fields["questions"]
        items = value.value if isinstance(value, yaml.SequenceNode) else []
        usable = [n for n in items if isinstance(n, yaml.ScalarNode) and str(n.value).strip()]
        if 0 < len(usable) < MIN_QUESTIONS:
            problems.append(
                GuideError(
                    name,
                    _line(key, 2),
                    f"chỉ có {len(usable)} câu hỏi mẫu (nên có ít nhất {MIN_QUESTIONS}, tốt nhất 15–20): "
                    "chatbot khó nhận ra bài này",
                    "warning",
                )
            )
        for node in usable:
            questions.append(
                QuestionRef(str(node.value).strip(), name, _line(node, 2), f"guide:{owner}", f"bài {owner}", topic)
            )

    tags = meta.get("tags")
    if tags is not None and "tags" in fields:
        key, value = fields["tags"]
        if isinstance(tags, list) and isinstance(value, yaml.SequenceNode):
            for item, node in zip(tags, value.value):
                if not isinstance(item, str):
                    shown = node.value if isinstance(node, yaml.ScalarNode) else item
                    problems.append(
                        GuideError(
                            name,
                            _line(node, 2),
                            f"từ khóa (tags) {shown} không phải chữ (YAML hiểu là {_type_name(item)}): "
                            f'hãy đặt trong ngoặc kép, ví dụ "{shown}"',
                            "warning",
                        )
                    )
        elif not isinstance(tags, str):
            problems.append(
                GuideError(
                    name,
                    _line(key, 2),
                    f"'tags' phải là danh sách từ khóa trong ngoặc vuông, ví dụ [vneid, mật khẩu] "
                    f"(đang là {_type_name(tags)})",
                    "warning",
                )
            )

    if meta.get("updated") is not None and "updated" in fields and _as_date(meta["updated"]) is None:
        problems.append(
            GuideError(
                name,
                _line(fields["updated"][0], 2),
                f"ngày cập nhật '{meta['updated']}' không đúng dạng năm-tháng-ngày, ví dụ 2026-11-28",
                "warning",
            )
        )
    problems += _review_problems(name, fields, meta, today, review_months)
    return problems


def _scalar(fields: dict[str, tuple[yaml.Node, yaml.Node]], key: str) -> str:
    node = fields.get(key, (None, None))[1]
    return str(node.value) if isinstance(node, yaml.ScalarNode) else ""


def routing_questions(folder: Path) -> list[QuestionRef]:
    """Sample questions of routing.yml entries, with their lines (nothing if the file is broken)."""
    path = folder / ROUTING_FILE
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    refs = []
    for kind, (_, entries) in _mapping(root).items():
        if not isinstance(entries, yaml.SequenceNode):
            continue
        for entry in entries.value:
            fields = _mapping(entry)
            entry_id = _scalar(fields, "id") or "?"
            value = fields.get("questions", (None, None))[1]
            if not isinstance(value, yaml.SequenceNode):
                continue
            for node in value.value:
                if isinstance(node, yaml.ScalarNode) and str(node.value).strip():
                    refs.append(
                        QuestionRef(
                            unicodedata.normalize("NFC", str(node.value)).strip(),
                            str(path),
                            _line(node, 1),
                            f"route:{entry_id}",
                            f"mục {entry_id} ({kind}) của {ROUTING_FILE}",
                            _scalar(fields, "title"),
                        )
                    )
    return refs
