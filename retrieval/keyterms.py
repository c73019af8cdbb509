"""Key things a citizen names (procedures, documents, app features, agencies), found with spaCy.

A blank spaCy pipeline (syllable tokens: Vietnamese writes one syllable per space-separated word)
with an ``EntityRuler`` runs over the accent-folded, abbreviation-expanded message
(:func:`core.text.normalize.fold`), so one pattern matches the accented, the unaccented and the
teencode spelling alike ("sổ đỏ", "so do"; "đk kết hôn" -> "dang ky ket hon"). The patterns are
staff data, written with diacritics; the unaccented form is generated here:

* ``knowledge/keyterms.yml``: things our guides talk about, with a label (PROC procedure, DOC
  document, FEATURE app feature, AGENCY agency or app);
* ``knowledge/uncovered/*.yml``: the catalogue of public procedures citizens ask about that NO
  guide covers, grouped by field. Each entry is also a routing target: the bot says it has no
  guide for it and offers a person.

A guide *covers* a key thing when the thing's name occurs in the guide's title or tags (the
front matter staff already write), or when ``keyterms.yml`` lists the guide under ``guides:``.
The answerability check in :mod:`retrieval.search` uses that: a catalogue procedure named in the
question that the chosen guide does not cover stops the answer, however close the wording.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core.text.normalize import fold, nfc
from retrieval.documents import Guide, GuideError

log = logging.getLogger(__name__)

KEYTERMS_FILE = "keyterms.yml"
UNCOVERED_DIR = "uncovered"
LABELS = ("PROC", "DOC", "FEATURE", "AGENCY")
# Labels that name the thing asked about; an agency or the app itself ("VNeID", "công an") does not.
SPECIFIC = ("PROC", "DOC", "FEATURE")
# Folded words that mark a named procedure as already done, or as a state, rather than as what is
# asked: "đã ly hôn", "từng đăng ký kết hôn", "chưa đăng ký kết hôn", "mới mua đất", "sắp đi du học"
# (up to two words before the name), "làm sổ đỏ rồi", "ly hôn r", "sang tên xong" (up to two words
# after it).
BACKGROUND_BEFORE = frozenset({"da", "tung", "chua", "moi", "sap"})
BACKGROUND_AFTER = frozenset({"roi", "xong"})
BACKGROUND_WINDOW = 2


@dataclass(frozen=True)
class Term:
    id: str
    label: str
    names: tuple[str, ...]  # as staff wrote them (with diacritics); the first is the display name
    guides: tuple[str, ...] = ()  # guides that cover it beyond those naming it in title / tags
    uncovered: bool = False  # a catalogue entry: no guide covers it
    field: str = ""  # catalogue group ("Đất đai, nhà ở")
    title: str = ""  # catalogue entry title, shown in the reply ("Hiện tôi chưa có hướng dẫn về …")

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass(frozen=True)
class Entity:
    """One key thing found in a message: token offsets in the folded text."""

    term: Term
    start: int
    end: int
    text: str  # the folded words that matched
    background: bool = False  # marked as done or as a state ("đã ly hôn", "làm sổ đỏ rồi"), see BACKGROUND_*

    def as_dict(self) -> dict:
        return {
            "id": self.term.id,
            "label": self.term.label,
            "name": self.term.name,
            "text": self.text,
            "uncovered": self.term.uncovered,
            "background": self.background,
        }


@dataclass
class KeyTerms:
    terms: dict[str, Term]
    errors: list[GuideError] = field(default_factory=list)

    def __post_init__(self) -> None:
        import spacy

        self.nlp = spacy.blank("xx")
        ruler = self.nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
        patterns, seen = [], {}
        for term in self.terms.values():
            for name in term.names:
                folded = fold(name)
                if not folded:
                    continue
                if folded in seen and seen[folded] != term.id:
                    # the same words under two terms: the first one listed keeps them
                    self.errors.append(
                        GuideError(KEYTERMS_FILE, 0, f"'{name}' ({term.id}) đã có ở mục {seen[folded]}", "warning")
                    )
                    continue
                seen[folded] = term.id
                patterns.append({"label": term.label, "pattern": folded, "id": term.id})
        ruler.add_patterns(patterns)
        self.pattern_count = len(patterns)

    def extract(self, text: str) -> list[Entity]:
        """Key things named in ``text``, in order; overlapping names resolve to the longest."""
        folded = fold(text)
        if not folded or not self.pattern_count:
            return []
        doc = self.nlp(folded)
        words = [token.text for token in doc]

        def background(start: int, end: int) -> bool:
            before = words[max(0, start - BACKGROUND_WINDOW) : start]
            after = words[end : end + BACKGROUND_WINDOW]
            return bool(BACKGROUND_BEFORE.intersection(before) or BACKGROUND_AFTER.intersection(after))

        return [
            Entity(self.terms[ent.ent_id_], ent.start, ent.end, ent.text, background(ent.start, ent.end))
            for ent in doc.ents
            if ent.ent_id_ in self.terms
        ]

    def coverage(self, guides: dict[str, Guide]) -> dict[str, frozenset[str]]:
        """Term ids each guide covers: named in its title or tags, or listed under the term's ``guides:``."""
        out: dict[str, set[str]] = {}
        for guide in guides.values():
            if guide.kind != "guide":
                continue
            text = " . ".join([guide.title, *guide.tags])
            out[guide.id] = {e.term.id for e in self.extract(text)}
        for term in self.terms.values():
            for guide_id in term.guides:
                if guide_id in out:
                    out[guide_id].add(term.id)
        return {g: frozenset(ids) for g, ids in out.items()}

    def catalogue_guides(self) -> list[Guide]:
        """Catalogue entries as routing entries (kind "uncovered"), so replies can name them."""
        return [
            Guide(
                id=t.id,
                title=t.title or t.name,
                summary="",
                questions=list(t.names),
                sources=[],
                updated="",
                path=f"{UNCOVERED_DIR}/",
                kind="uncovered",
            )
            for t in self.terms.values()
            if t.uncovered
        ]

    @property
    def catalogue_size(self) -> int:
        return sum(t.uncovered for t in self.terms.values())


def _names(value, where: str, errors: list[GuideError]) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(GuideError(where, 0, "'names' phải là danh sách tên (chuỗi, không trống)"))
        return ()
    return tuple(nfc(v.strip()) for v in value)


def _unknown_keys(entry: dict, allowed: tuple[str, ...], where: str, errors: list[GuideError]) -> None:
    unknown = [str(k) for k in entry if k not in allowed]
    if unknown:
        errors.append(
            GuideError(
                where,
                0,
                f"mục {entry.get('id')}: khóa lạ {', '.join(unknown)} (tiêu đề có dấu phẩy "
                "trong {{...}} phải đặt trong ngoặc kép)",
            )
        )


def _read_yaml(path: Path, errors: list[GuideError]):
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        errors.append(
            GuideError(str(path), mark.line + 1 if mark else 1, f"YAML sai cú pháp: {getattr(exc, 'problem', exc)}")
        )
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(GuideError(str(path), 0, f"không đọc được tệp: {exc}"))
    return None


def load_keyterms(folder: Path) -> KeyTerms:
    """Read ``keyterms.yml`` and ``uncovered/*.yml`` under ``folder``; bad entries are reported and skipped."""
    folder = Path(folder)
    errors: list[GuideError] = []
    terms: dict[str, Term] = {}

    def add(term: Term, where: str) -> None:
        if term.id in terms:
            errors.append(GuideError(where, 0, f"id '{term.id}' bị trùng"))
        else:
            terms[term.id] = term

    path = folder / KEYTERMS_FILE
    data = _read_yaml(path, errors) if path.exists() else {}
    entries = data.get("terms") if isinstance(data, dict) else None
    if data and not isinstance(entries, list):
        errors.append(GuideError(str(path), 1, "tệp cần danh sách 'terms:'"))
        entries = []
    for entry in entries or []:
        where = f"{path}: {entry.get('id') if isinstance(entry, dict) else entry!r}"
        if not isinstance(entry, dict) or not entry.get("id") or entry.get("label") not in LABELS:
            errors.append(GuideError(str(path), 0, f"mục cần id và label ({', '.join(LABELS)}): {entry!r}"[:200]))
            continue
        _unknown_keys(entry, ("id", "label", "names", "guides"), str(path), errors)
        names = _names(entry.get("names"), where, errors)
        if names:
            add(Term(str(entry["id"]), entry["label"], names, tuple(str(g) for g in entry.get("guides") or ())), where)
    for path in sorted((folder / UNCOVERED_DIR).glob("*.yml")):
        data = _read_yaml(path, errors)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("procedures"), list):
            errors.append(GuideError(str(path), 1, "tệp cần 'field:' và danh sách 'procedures:'"))
            continue
        group = str(data.get("field") or path.stem)
        for entry in data["procedures"]:
            where = f"{path}: {entry.get('id') if isinstance(entry, dict) else entry!r}"
            if not isinstance(entry, dict) or not entry.get("id") or not entry.get("title"):
                errors.append(GuideError(str(path), 0, f"thủ tục cần id, title và names: {entry!r}"[:200]))
                continue
            _unknown_keys(entry, ("id", "title", "names"), str(path), errors)
            names = _names(entry.get("names"), where, errors)
            if names:
                add(Term(f"uncovered_{entry['id']}", "PROC", names, (), True, group, nfc(str(entry["title"]))), where)
    keyterms = KeyTerms(terms, errors)
    for problem in keyterms.errors:
        log.warning("%s", problem)
    return keyterms
