"""Staff-written guides: parsing, validation with file and line, placeholder rendering.

A guide is a Markdown file with YAML front matter (docs/guide-format.md). A broken guide is
reported as a :class:`GuideError` with its file and line; it never raises out of
:func:`load_guides`, so one bad file cannot take down an index build or the serving index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REQUIRED_FIELDS = ("id", "title", "summary", "questions", "sources", "updated")
ID_PATTERN = re.compile(r"^[a-z0-9_]+$")
PLACEHOLDER = re.compile(r"\{(hotline|hotline_name|hotline_hours|province)\}")


@dataclass(frozen=True)
class GuideError:
    """One problem in one guide file; ``line`` is 1-based (0 when it concerns the whole file)."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" blocks the guide; "warning" is only reported

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Section:
    heading: str
    text: str
    line: int


@dataclass
class Guide:
    id: str
    title: str
    summary: str
    questions: list[str]
    sources: list[str]
    updated: str
    agency: str = ""
    # When staff last checked the guide against the facts, and the legal texts it relies on
    # (docs/guide-format.md); tools/check.py and `make report` use them, the search does not.
    reviewed: str = ""
    legal: list[str] = field(default_factory=list)
    # Section headings exempted from the outdated-terms check (history told in the past tense).
    exceptions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    path: str = ""
    # "guide": answer from it; "handoff" / "uncovered": a routing entry from routing.yml, matched
    # like a guide but never answered from (the bot hands off or says it has no guide).
    kind: str = "guide"

    @property
    def url(self) -> str:
        return self.sources[0] if self.sources else ""


# "({hotline_hours})" right after the number: dropped, with the space before it, when no hours are configured.
_EMPTY_HOURS = re.compile(r"\s*\(\{hotline_hours\}\)")


def render(text: str, values: dict[str, str]) -> str:
    """Fill ``{hotline}``-style placeholders; unknown braces are left alone.

    Opening hours are printed only when configured: with an empty ``hotline_hours``, the
    "({hotline_hours})" after a number disappears, so the sentence still reads naturally.

    >>> render("Gọi {hotline} ({hotline_hours}).", {"hotline": "1022", "hotline_hours": "24/7"})
    'Gọi 1022 (24/7).'
    >>> render("Gọi {hotline} ({hotline_hours}).", {"hotline": "1022", "hotline_hours": ""})
    'Gọi 1022.'
    """
    if "hotline_hours" in values and not values["hotline_hours"].strip():
        text = _EMPTY_HOURS.sub("", text)
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _exception_sections(value: object) -> list[str]:
    """Headings listed under ``exceptions:`` (items ``{section: ..., reason: ...}``); others ignored."""
    if not isinstance(value, list):
        return []
    return [str(item["section"]).strip() for item in value if isinstance(item, dict) and item.get("section")]


def _split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Return (yaml, body, body_start_line) or None when there is no front matter."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), "\n".join(lines[index + 1 :]), index + 2
    return None


def _sections(body: str, first_line: int) -> list[Section]:
    sections: list[Section] = []
    heading, start, buffer = "", first_line, []
    for offset, line in enumerate(body.split("\n")):
        if line.startswith("## "):
            if heading or "".join(buffer).strip():
                sections.append(Section(heading, "\n".join(buffer).strip(), start))
            heading, start, buffer = line[3:].strip(), first_line + offset, []
        else:
            buffer.append(line)
    if heading or "".join(buffer).strip():
        sections.append(Section(heading, "\n".join(buffer).strip(), start))
    return [s for s in sections if s.text]


def _field_line(front: str, name: str) -> int:
    match = re.search(rf"^{re.escape(name)}\s*:", front, re.M)
    return front[: match.start()].count("\n") + 2 if match else 1


def _id_line(path: Path) -> int:
    try:
        parts = _split_front_matter(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return 1
    return _field_line(parts[0], "id") if parts else 1


def parse_guide(path: Path) -> tuple[Guide | None, list[GuideError]]:
    """Parse and validate one guide. Returns the guide (None if unusable) and its problems."""
    name = str(path)
    errors: list[GuideError] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [GuideError(name, 0, f"không đọc được tệp (cần UTF-8): {exc}")]
    if text != unicodedata.normalize("NFC", text):
        errors.append(GuideError(name, 0, "văn bản chưa ở dạng Unicode NFC", "warning"))
        text = unicodedata.normalize("NFC", text)
    parts = _split_front_matter(text)
    if parts is None:
        return None, errors + [GuideError(name, 1, "thiếu phần khai báo YAML giữa hai dòng '---' ở đầu tệp")]
    front, body, body_line = parts
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return None, errors + [GuideError(name, line, f"YAML sai cú pháp: {problem}")]
    if not isinstance(meta, dict):
        return None, errors + [GuideError(name, 2, "phần YAML phải là các cặp 'tên: giá trị'")]
    for key in REQUIRED_FIELDS:
        value = meta.get(key)
        if value is None or (isinstance(value, (str, list)) and len(value) == 0):
            errors.append(GuideError(name, _field_line(front, key), f"thiếu hoặc để trống trường bắt buộc '{key}'"))
    if any(e.severity == "error" for e in errors):
        return None, errors
    guide_id = str(meta["id"]).strip()
    if not ID_PATTERN.match(guide_id):
        errors.append(
            GuideError(name, _field_line(front, "id"), f"id '{guide_id}' chỉ được gồm chữ thường không dấu, số, '_'")
        )
    if path.stem != guide_id:
        errors.append(GuideError(name, _field_line(front, "id"), f"tên tệp nên trùng id: {guide_id}.md", "warning"))
    questions = meta.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, str) and q.strip() for q in questions):
        errors.append(
            GuideError(name, _field_line(front, "questions"), "'questions' phải là danh sách câu hỏi (chuỗi)")
        )
    sources = meta.get("sources")
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list):
        errors.append(GuideError(name, _field_line(front, "sources"), "'sources' phải là danh sách đường dẫn"))
        sources = []
    for url in sources:
        if not re.match(r"^https?://\S+$", str(url)):
            errors.append(
                GuideError(name, _field_line(front, "sources"), f"đường dẫn không hợp lệ (cần http/https): {url}")
            )
    sections = _sections(body, body_line)
    if not sections:
        errors.append(GuideError(name, body_line, "nội dung hướng dẫn đang trống"))
    if any(e.severity == "error" for e in errors):
        return None, errors
    tags = meta.get("tags") or []
    guide = Guide(
        id=guide_id,
        title=str(meta["title"]).strip(),
        summary=str(meta["summary"]).strip(),
        questions=[q.strip() for q in questions],
        sources=[str(s) for s in sources],
        updated=str(meta["updated"]),
        agency=str(meta.get("agency") or "").strip(),
        tags=[str(t) for t in tags] if isinstance(tags, list) else [str(tags)],
        reviewed=str(meta.get("reviewed") or ""),
        legal=[str(x) for x in meta["legal"]] if isinstance(meta.get("legal"), list) else [],
        exceptions=_exception_sections(meta.get("exceptions")),
        sections=sections,
        path=name,
    )
    return guide, errors


ROUTING_FILE = "routing.yml"
ROUTE_KINDS = ("handoff", "uncovered")


def load_routes(folder: Path) -> tuple[list[Guide], list[GuideError]]:
    """Read ``routing.yml``: questions the bot must not answer from a guide (see that file)."""
    path = Path(folder) / ROUTING_FILE
    if not path.exists():
        return [], []
    name = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [GuideError(name, mark.line + 1 if mark else 1, f"YAML sai cú pháp: {getattr(exc, 'problem', exc)}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [], [GuideError(name, 0, f"không đọc được tệp: {exc}")]
    routes, errors = [], []
    if not isinstance(data, dict):
        return [], [GuideError(name, 1, "tệp phải có các nhóm 'handoff:' và 'uncovered:'")]
    for kind, entries in data.items():
        if kind not in ROUTE_KINDS or not isinstance(entries, list):
            errors.append(GuideError(name, 1, f"nhóm '{kind}' không hợp lệ (chỉ có: {', '.join(ROUTE_KINDS)})"))
            continue
        for entry in entries:
            if (
                not isinstance(entry, dict)
                or not entry.get("id")
                or not entry.get("title")
                or not isinstance(entry.get("questions"), list)
                or not entry["questions"]
            ):
                errors.append(GuideError(name, 1, f"mục trong '{kind}' cần id, title và questions: {entry!r}"[:200]))
                continue
            routes.append(
                Guide(
                    id=str(entry["id"]),
                    title=str(entry["title"]),
                    summary="",
                    questions=[str(q) for q in entry["questions"]],
                    sources=[],
                    updated="",
                    path=name,
                    kind=kind,
                )
            )
    return routes, errors


def load_guides(folder: Path) -> tuple[list[Guide], list[GuideError]]:
    """Load every ``*.md`` guide under ``folder`` (README.md excluded), skipping broken ones.

    Duplicate ids are errors: the later file (by name) is skipped so the earlier one keeps serving.
    """
    guides: list[Guide] = []
    errors: list[GuideError] = []
    seen: dict[str, str] = {}
    for path in sorted(Path(folder).glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        guide, problems = parse_guide(path)
        errors.extend(problems)
        if guide is None:
            continue
        if guide.id in seen:
            errors.append(GuideError(str(path), _id_line(path), f"id '{guide.id}' bị trùng với {seen[guide.id]}"))
            continue
        seen[guide.id] = str(path)
        guides.append(guide)
    routes, problems = load_routes(folder)
    errors.extend(problems)
    for route in routes:
        if route.id in seen:
            errors.append(GuideError(route.path, 1, f"id '{route.id}' bị trùng với {seen[route.id]}"))
            continue
        seen[route.id] = route.path
        guides.append(route)
    return guides, errors
