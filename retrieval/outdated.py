"""Keep guides current: outdated terms and unhedged unconfirmed figures (``knowledge/outdated.yml``).

Staff list in ``knowledge/outdated.yml`` what changed (a term or pattern, what replaces it, since
when and why: "thị trấn" → "xã, phường" since 1/7/2025) and which figures the facts sheet marks
unconfirmed (phone numbers, fees, time limits). :func:`scan` finds them in a guide's text, one
sentence at a time, so ``make check-knowledge`` can report them with file and line and a test can
run the same rules over every guide rendered with the default configuration.

A sentence that tells history is not an error: each outdated entry lists words (``unless``, e.g.
"trước đây", "đã sáp nhập") that mark a sentence as past; a whole section can also be exempted in
the guide's front matter (``exceptions``, see docs/guide-format.md). An unconfirmed figure is
fine when its sentence says so ("chưa có xác nhận chính thức"), or when it is a list item under a
lead-in line that says so ("Các bước dưới đây chưa có xác nhận chính thức, ...:").

The module has no dependency on the index or a model; it only needs PyYAML.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.documents import load_guides

RULES_FILE = "outdated.yml"
DEFAULT_REVIEW_MONTHS = 6
DEFAULT_HEDGES = ("chưa có xác nhận", "chưa được xác nhận", "chưa có nguồn chính thức")
# A sentence ends at . ! ? ; followed by a space or the end ("200.000" and "1/7/2025" do not end one).
_SENTENCE_END = re.compile(r"[.!?;](?=\s|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_QUOTES = '"“”'
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Rule:
    """One entry of outdated.yml."""

    kind: str  # "outdated" | "unconfirmed"
    regex: re.Pattern
    shown: str  # the term or pattern as staff wrote it
    replace: str = ""
    since: str = ""
    reason: str = ""
    what: str = ""
    near: re.Pattern | None = None
    unless: tuple[str, ...] = ()
    skip_quoted: bool = False
    topics: frozenset[str] = frozenset()
    line: int = 0  # where it is written in outdated.yml


@dataclass
class Rules:
    """Everything outdated.yml configures."""

    outdated: list[Rule] = field(default_factory=list)
    unconfirmed: list[Rule] = field(default_factory=list)
    hedges: tuple[str, ...] = DEFAULT_HEDGES
    review_months: int = DEFAULT_REVIEW_MONTHS
    path: str = ""


@dataclass(frozen=True)
class Problem:
    """A finding in one guide: ``line`` is 1-based in the guide's file (or the rendered text)."""

    line: int
    message: str


@dataclass
class Block:
    """A paragraph, list item, heading or front-matter field: the unit sentences are cut from.

    ``starts`` maps offsets in ``text`` to file lines: ``starts[k] = (offset, line)``.
    """

    text: str
    section: str
    starts: list[tuple[int, int]]
    list_item: bool = False
    heading: bool = False

    def line_at(self, offset: int) -> int:
        line = self.starts[0][1]
        for start, number in self.starts:
            if start > offset:
                break
            line = number
        return line


def since_vi(value: str) -> str:
    """A ``since`` date as staff read it.

    >>> since_vi("2025-07-01"), since_vi("2025-03"), since_vi("2025")
    ('1/7/2025', 'tháng 3/2025', 'năm 2025')
    """
    parts = str(value).strip().split("-")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        return str(value)
    if len(numbers) == 3:
        return f"{numbers[2]}/{numbers[1]}/{numbers[0]}"
    if len(numbers) == 2:
        return f"tháng {numbers[1]}/{numbers[0]}"
    return f"năm {numbers[0]}"


def _valid_since(value: str) -> bool:
    for fmt in ("%Y-%m-%d", "%Y-%m", "%Y"):
        try:
            dt.datetime.strptime(str(value).strip(), fmt)
            return True
        except ValueError:
            continue
    return False


def _compile(text: str, literal: bool) -> re.Pattern:
    text = unicodedata.normalize("NFC", text)
    body = re.escape(text) if literal else text
    if literal:  # whole words only: "thị trấn" but not "thị trấnx"
        body = rf"(?<!\w){body}(?!\w)"
    return re.compile(body, re.IGNORECASE)


def _entry_rule(kind: str, entry: dict, line: int, path: str, errors: list[tuple[int, str]]) -> Rule | None:
    where = f"mục ở dòng {line}"
    term, pattern = entry.get("term"), entry.get("pattern")
    if bool(term) == bool(pattern):
        errors.append((line, f"{where}: cần đúng một trong hai trường 'term' (chữ) hoặc 'pattern' (regex)"))
        return None
    try:
        if term:
            terms = term if isinstance(term, list) else [term]
            regex = re.compile("|".join(f"(?:{_compile(str(t), True).pattern})" for t in terms), re.IGNORECASE)
            shown = ", ".join(str(t) for t in terms)
        else:
            regex, shown = _compile(str(pattern), False), str(pattern)
        near = _compile(str(entry["near"]), False) if entry.get("near") else None
    except re.error as exc:
        errors.append((line, f"{where}: biểu thức chính quy sai ({exc}); hãy kiểm tra dấu ngoặc, dấu '|'"))
        return None
    if kind == "outdated":
        missing = [key for key in ("replace", "since", "reason") if not str(entry.get(key) or "").strip()]
        if missing:
            errors.append((line, f"{where}: thiếu {', '.join(missing)} (viết gì thay, từ ngày nào, vì sao)"))
            return None
        if not _valid_since(str(entry["since"])):
            errors.append((line, f"{where}: 'since' phải là năm-tháng-ngày, năm-tháng hoặc năm, ví dụ 2025-07-01"))
            return None
    elif not str(entry.get("what") or "").strip():
        errors.append((line, f"{where}: thiếu 'what' (con số này là gì, ví dụ: lệ phí hộ chiếu)"))
        return None
    unless = entry.get("unless") or []
    topics = entry.get("topics") or []
    if not isinstance(unless, list) or not isinstance(topics, list):
        errors.append((line, f"{where}: 'unless' và 'topics' phải là danh sách, ví dụ [trước đây, từng]"))
        return None
    return Rule(
        kind,
        regex,
        shown,
        str(entry.get("replace") or ""),
        str(entry.get("since") or ""),
        str(entry.get("reason") or "").strip(),
        str(entry.get("what") or "").strip(),
        near,
        tuple(unicodedata.normalize("NFC", str(u)).lower() for u in unless),
        bool(entry.get("skip_quoted")),
        frozenset(str(t) for t in topics),
        line,
    )


def load_rules(folder: Path) -> tuple[Rules, list[tuple[int, str]]]:
    """Read ``folder/outdated.yml``.

    Args:
        folder: The knowledge folder.

    Returns:
        The rules (defaults when the file is missing) and ``(line, message)`` problems with the
        file itself, in Vietnamese. A broken entry is skipped; the others still apply.
    """
    path = Path(folder) / RULES_FILE
    rules = Rules(path=str(path))
    if not path.exists():
        return rules, []
    try:
        text = unicodedata.normalize("NFC", path.read_text(encoding="utf-8"))
        root = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except (OSError, UnicodeDecodeError) as exc:
        return rules, [(0, f"không đọc được tệp: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return rules, [(mark.line + 1 if mark else 1, f"YAML sai cú pháp: {getattr(exc, 'problem', exc)}")]
    if not isinstance(data, dict):
        return rules, [(1, "tệp phải có các nhóm 'outdated:' và 'unconfirmed:'")]
    errors: list[tuple[int, str]] = []
    months = data.get("review_months", DEFAULT_REVIEW_MONTHS)
    if isinstance(months, int) and not isinstance(months, bool) and months > 0:
        rules.review_months = months
    else:
        errors.append((1, f"'review_months' phải là số tháng (số nguyên dương), đang là {months!r}"))
    hedges = data.get("hedges")
    if isinstance(hedges, list) and hedges:
        rules.hedges = tuple(unicodedata.normalize("NFC", str(h)).lower() for h in hedges)
    nodes = {str(k.value): v for k, v in root.value} if isinstance(root, yaml.MappingNode) else {}
    for kind in ("outdated", "unconfirmed"):
        entries = data.get(kind) or []
        node = nodes.get(kind)
        if not isinstance(entries, list):
            errors.append((node.start_mark.line + 1 if node else 1, f"'{kind}' phải là danh sách các mục '- ...'"))
            continue
        items = node.value if isinstance(node, yaml.SequenceNode) else [None] * len(entries)
        for entry, item in zip(entries, items):
            line = item.start_mark.line + 1 if item is not None else 1
            if not isinstance(entry, dict):
                errors.append((line, f"mục ở dòng {line} phải gồm các cặp 'tên: giá trị' (term, replace, ...)"))
                continue
            rule = _entry_rule(kind, entry, line, str(path), errors)
            if rule is not None:
                getattr(rules, kind).append(rule)
    return rules, errors


# --------------------------------------------------------------------------- text into blocks


def body_blocks(lines: list[str], first_line: int) -> list[Block]:
    """Cut Markdown body lines into blocks (headings, paragraphs, list items with their continuations).

    Args:
        lines: The body lines.
        first_line: The file line of ``lines[0]``.

    Returns:
        The blocks, each knowing its section heading and the file line of every piece.
    """
    blocks: list[Block] = []
    section, current = "", None
    for offset, raw in enumerate(lines):
        number = first_line + offset
        line = raw.rstrip()
        if not line.strip():
            current = None
            continue
        if line.startswith("## "):
            section = line[3:].strip()
            blocks.append(Block(section, section, [(0, number)], heading=True))
            current = None
            continue
        item = bool(_LIST_ITEM.match(line))
        if current is None or item:
            current = Block(line.strip(), section, [(0, number)], list_item=item)
            blocks.append(current)
        else:
            current.starts.append((len(current.text) + 1, number))
            current.text += " " + line.strip()
    return blocks


def text_blocks(text: str, section: str, line: int) -> list[Block]:
    """Blocks of a multi-line text that is not Markdown body (a summary), all in ``section``."""
    return [
        Block(b.text, section, b.starts, b.list_item) for b in body_blocks(text.split("\n"), line) if not b.heading
    ] or []


def _sentence(text: str, start: int, end: int) -> str:
    before = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
    after = _SENTENCE_END.search(text, end)
    return text[(before[-1] if before else 0) : (after.end() if after else len(text))]


def _quoted(text: str, start: int) -> bool:
    return sum(text[:start].count(q) for q in _QUOTES) % 2 == 1


def _hedged(sentence: str, hedges: tuple[str, ...]) -> bool:
    low = sentence.lower()
    return any(h in low for h in hedges)


def scan(
    blocks: list[Block],
    rules: Rules,
    guide_id: str = "",
    title: str = "",
    exempt: frozenset[str] | set[str] = frozenset(),
) -> list[Problem]:
    """Outdated terms and unhedged unconfirmed figures in a guide's blocks.

    Args:
        blocks: The guide's text (:func:`body_blocks`, :func:`text_blocks`).
        rules: From :func:`load_rules`.
        guide_id: Restricts rules that list ``topics``.
        title: The guide's title; a rule's ``near`` may match it or the block's section.
        exempt: Section headings the guide declares as exceptions (history): no outdated-term
            check there (unconfirmed figures are still checked).

    Returns:
        Problems with the line of each match, in Vietnamese.
    """
    sections: dict[str, str] = {}
    for block in blocks:
        sections[block.section] = sections.get(block.section, "") + " " + block.text
    problems: list[Problem] = []
    lead_in_hedged = False
    for block in blocks:
        if block.heading:
            lead_in_hedged = False
        elif not block.list_item:
            lead_in_hedged = block.text.rstrip().endswith(":") and _hedged(block.text, rules.hedges)
        context = f"{title} {block.section} {sections.get(block.section, '')}"
        if block.section not in exempt:
            for rule in rules.outdated:
                if rule.topics and guide_id not in rule.topics:
                    continue
                if rule.near is not None and not rule.near.search(context):
                    continue
                for match in rule.regex.finditer(block.text):
                    if rule.skip_quoted and _quoted(block.text, match.start()):
                        continue
                    sentence = _sentence(block.text, match.start(), match.end()).lower()
                    if any(word in sentence for word in rule.unless):
                        continue
                    problems.append(Problem(block.line_at(match.start()), outdated_message(rule, match.group(0))))
        reported: list[tuple[int, int]] = []  # one figure matched by two rules is reported once
        for rule in rules.unconfirmed:
            if rule.topics and guide_id not in rule.topics:
                continue
            for match in rule.regex.finditer(block.text):
                sentence = _sentence(block.text, match.start(), match.end())
                if _hedged(sentence, rules.hedges) or (block.list_item and lead_in_hedged):
                    continue
                if any(match.start() < end and start < match.end() for start, end in reported):
                    continue
                reported.append(match.span())
                problems.append(Problem(block.line_at(match.start()), unconfirmed_message(rule, match.group(0))))
    return problems


def outdated_message(rule: Rule, found: str) -> str:
    """The Vietnamese message for an outdated term."""
    return (
        f'thông tin lỗi thời "{found}": {rule.reason} (thay đổi từ {since_vi(rule.since)}). '
        f'Hãy viết: {rule.replace}. Nếu câu này kể lại chuyện cũ, hãy nói rõ (ví dụ "trước đây"). '
        f"Danh sách: knowledge/{RULES_FILE}, dòng {rule.line}"
    )


def unconfirmed_message(rule: Rule, found: str) -> str:
    """The Vietnamese message for an unconfirmed figure stated as fact."""
    return (
        f'"{found}" ({rule.what}) chưa được xác nhận trong tài liệu nguồn, nhưng câu này nêu như thông tin '
        'chắc chắn: thêm "(chưa có xác nhận chính thức, bạn nên hỏi lại cơ quan tiếp nhận)" vào câu, hoặc '
        f"bỏ con số. Danh sách: knowledge/{RULES_FILE}, dòng {rule.line}"
    )


# --------------------------------------------------------------------------- guides due for review


def months_between(earlier: dt.date, later: dt.date) -> int:
    """Whole months from ``earlier`` to ``later``.

    >>> months_between(dt.date(2026, 1, 31), dt.date(2026, 3, 1))
    1
    >>> months_between(dt.date(2026, 6, 5), dt.date(2026, 12, 5))
    6
    """
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def guides_due_for_review(
    folder: Path, today: dt.date | None = None, months: int | None = None
) -> tuple[list[dict], int]:
    """Guides whose ``reviewed`` date is missing, not a date, or ``months`` old or older (``make report``).

    Args:
        folder: The knowledge folder.
        today: The date to measure from (default: today).
        months: The limit (default: ``review_months`` of outdated.yml).

    Returns:
        ``([{"guide_id", "title", "reviewed", "months", "path"}...], months)``, oldest first; ``months``
        of an entry is None when its date is missing or unreadable.
    """
    today = today or dt.date.today()
    rules, _ = load_rules(folder)
    limit = months if months is not None else rules.review_months
    guides, _ = load_guides(folder)
    due = []
    for guide in guides:
        if guide.kind != "guide":
            continue
        try:
            reviewed = dt.date.fromisoformat(guide.reviewed.strip()[:10])
        except ValueError:
            reviewed = None
        age = months_between(reviewed, today) if reviewed else None
        if age is None or age >= limit:
            due.append(
                {
                    "guide_id": guide.id,
                    "title": guide.title,
                    "reviewed": guide.reviewed,
                    "months": age,
                    "path": guide.path,
                }
            )
    due.sort(key=lambda d: (d["months"] is not None, -(d["months"] or 0), d["guide_id"]))
    return due, limit
