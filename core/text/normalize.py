"""Vietnamese text normalisation shared by the NLU pipeline and retrieval.

Both the Rasa server (Python 3.10) and the action server / retrieval code
(Python 3.11) import this module, so it uses only the standard library and
PyYAML (needed only when abbreviations are first used).

Pipeline used for matching (:func:`normalize`)::

    NFC -> tone marks (traditional placement) -> lower case
        -> abbreviations / teencode -> collapse whitespace

and :func:`fold` additionally removes diacritics for accent-insensitive
matching. URLs and e-mail addresses are left exactly as typed.

Tone-mark convention: the traditional ("old") placement used by most
Vietnamese news text and dictionaries: "hòa", "khỏe", "thủy", "ủy ban";
with a final consonant the mark goes on the second vowel ("hoàng",
"huỳnh"); "quý", "quà", "già" keep the mark after "qu"/"gi".

Everything runs in linear time: one precompiled regex for abbreviations,
one for syllables.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from core.text.tones import normalize_tone_marks
from core.text.unicode import nfc, strip_accents

__all__ = [
    "ABBREVIATIONS_FILE",
    "URL_RE",
    "AbbreviationFileError",
    "expand_abbreviations",
    "find_abbreviations",
    "fold",
    "load_abbreviations",
    "nfc",
    "normalize",
    "normalize_tone_marks",
    "strip_accents",
]

ABBREVIATIONS_FILE = Path(__file__).with_name("abbreviations.yml")
_WS_RE = re.compile(r"\s+")

# ---------------------------------------------------------------------------
# URLs and e-mail addresses (left untouched by every step)
# ---------------------------------------------------------------------------

# Each alternative starts with a lookbehind so a match can only *start* at a
# token start; this keeps the scan linear on inputs like "aaaa...aaaa".
_URL_PATTERN = r"""
    (?<![\w.@/-])
    (?:
        (?:https?|ftp)://[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}“”‘’]       # scheme URL
      | www\.[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}“”‘’]                   # www.
      | [\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+                       # e-mail
      | [a-z0-9-]+(?:\.[a-z0-9-]+)*
        \.(?:vn|com|net|org|gov|edu|info|io|app|me|biz)\b          # bare domain
        (?:/[^\s<>"'`]*[^\s<>"'`.,;:!?)\]}“”‘’])?
    )
"""

#: Compiled pattern for URLs, bare domains ("dichvucong.gov.vn") and e-mails.
URL_RE = re.compile(_URL_PATTERN, re.IGNORECASE | re.VERBOSE)

# ---------------------------------------------------------------------------
# Abbreviations
# ---------------------------------------------------------------------------

_SECTIONS = ("always", "sentence_final", "not_after_number")


class AbbreviationFileError(ValueError):
    """``abbreviations.yml`` is malformed (message names the file and entry)."""


def _key(text: str) -> str:
    return _WS_RE.sub(" ", normalize_tone_marks(text).lower()).strip()


def load_abbreviations(path: Path | None = None) -> dict[str, dict[str, str]]:
    """Read and validate the abbreviation file.

    Args:
        path: YAML file; defaults to ``core/text/abbreviations.yml``.

    Returns:
        ``{section: {key: expansion}}`` for the sections ``always``,
        ``sentence_final`` and ``not_after_number``; keys normalised
        (NFC, tone marks, lower case, single spaces).

    Raises:
        AbbreviationFileError: unknown section, non-string entry or duplicate key.

    Example:
        >>> load_abbreviations()["always"]["sđt"]
        'số điện thoại'
    """
    import yaml  # PyYAML; imported lazily so the module loads without it

    class _UniqueKeyLoader(yaml.SafeLoader):
        pass

    def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node)
            if key in seen:
                raise AbbreviationFileError(f"duplicate key {key!r} in {path}")
            seen.add(key)
        return loader.construct_mapping(node)

    _UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)

    path = Path(path) if path is not None else ABBREVIATIONS_FILE
    raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    if not isinstance(raw, dict):
        raise AbbreviationFileError(f"{path}: top level must be a mapping of sections")
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise AbbreviationFileError(f"{path}: unknown section(s) {sorted(unknown)}")
    result: dict[str, dict[str, str]] = {}
    seen_keys: dict[str, str] = {}
    for section in _SECTIONS:
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            raise AbbreviationFileError(f"{path}: section {section!r} must be a mapping")
        result[section] = {}
        for key, value in entries.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise AbbreviationFileError(f"{path}: {section}: {key!r}: {value!r} must be text")
            norm = _key(key)
            if not norm:
                raise AbbreviationFileError(f"{path}: {section}: empty key")
            if norm in seen_keys:
                raise AbbreviationFileError(f"{path}: key {key!r} appears in {seen_keys[norm]!r} and {section!r}")
            seen_keys[norm] = section
            result[section][norm] = nfc(value.strip())
    return result


# Token boundaries: not glued to a letter/digit, "-", "@" or a dotted name.
_LEFT = r"(?<![\w@-])(?<!\w\.)"
_RIGHT = r"(?![\w@-])(?!\.\w)"
_AFTER_NUMBER_RE = re.compile(r"\d[ \t]{0,3}$")
_AFTER_WORD_RE = re.compile(r"\w[ \t]{0,3}$")
_SENTENCE_END_RE = re.compile(r"[ \t]*(?:$|\n|[^\w\s])")


class _AbbreviationTable:
    """Expansions plus the one compiled regex that finds URLs and keys."""

    def __init__(self, sections: dict[str, dict[str, str]]) -> None:
        self.rule: dict[str, str] = {}
        self.expansion: dict[str, str] = {}
        for section, entries in sections.items():
            for key, value in entries.items():
                self.rule[key] = section
                self.expansion[key] = value
        alternatives = [
            r"\s+".join(re.escape(part) for part in key.split(" "))
            for key in sorted(self.expansion, key=len, reverse=True)
        ]
        abbr = "|".join(alternatives) or r"(?!)"
        self.regex = re.compile(
            rf"(?P<url>{_URL_PATTERN})|{_LEFT}(?P<abbr>{abbr}){_RIGHT}",
            re.IGNORECASE | re.VERBOSE,
        )

    def expansion_for(self, text: str, match: re.Match[str]) -> str | None:
        """Expansion of an ``abbr`` match, or None if its context rule fails."""
        key = _WS_RE.sub(" ", match.group("abbr").lower())
        rule = self.rule.get(key)
        if rule is None:
            return None
        start, end = match.span()
        if rule == "not_after_number":
            if _AFTER_NUMBER_RE.search(text, max(0, start - 4), start):
                return None
        elif rule == "sentence_final":
            if not _AFTER_WORD_RE.search(text, max(0, start - 4), start):
                return None
            if not _SENTENCE_END_RE.match(text, end):
                return None
        return self.expansion[key]


@functools.lru_cache(maxsize=1)
def _table() -> _AbbreviationTable:
    return _AbbreviationTable(load_abbreviations())


def find_abbreviations(text: str) -> list[tuple[int, int, str]]:
    """Locate abbreviations in ``text`` without changing it.

    Used by the tokenizer, which needs character offsets. Pass NFC text with
    tone marks already normalised (as :func:`normalize_tone_marks` returns) so
    keys written with diacritics match; URLs and e-mails are skipped.

    Args:
        text: The text to scan.

    Returns:
        ``(start, end, expansion)`` for each abbreviation, in text order.

    Example:
        >>> find_abbreviations("quên mk vneid")
        [(5, 7, 'mật khẩu'), (8, 13, 'vneid')]
    """
    if not text:
        return []
    table = _table()
    found = []
    for match in table.regex.finditer(text):
        if match.group("abbr") is None:
            continue
        expansion = table.expansion_for(text, match)
        if expansion is not None:
            found.append((match.start(), match.end(), expansion))
    return found


def _rewrite(text: str, *, lower: bool, expand: bool) -> str:
    """One pass over ``text``: URLs kept, abbreviations expanded, rest lowered."""
    regex = _table().regex if expand else URL_RE
    parts: list[str] = []
    pos = 0
    for match in regex.finditer(text):
        start, end = match.span()
        between = text[pos:start]
        parts.append(between.lower() if lower else between)
        replacement = None
        if expand and match.group("abbr") is not None:
            replacement = _table().expansion_for(text, match)
        if replacement is None:
            surface = match.group(0)
            is_url = not expand or match.group("url") is not None
            replacement = surface if is_url or not lower else surface.lower()
        parts.append(replacement)
        pos = end
    tail = text[pos:]
    parts.append(tail.lower() if lower else tail)
    return "".join(parts)


def expand_abbreviations(text: str) -> str:
    """Replace chat abbreviations/teencode listed in ``abbreviations.yml``.

    Whole tokens only, case-insensitive, never inside URLs/e-mails or glued
    to digits ("100k" stays). Text other than the replaced tokens is kept as
    is (apart from NFC).

    Args:
        text: A message.

    Returns:
        The message with abbreviations expanded (expansions in lower case).

    Example:
        >>> expand_abbreviations("Ko đc, quên MK tk VNeID r")
        'không được, quên mật khẩu tài khoản vneid rồi'
        >>> expand_abbreviations("nạp 100k, lm sao v?")
        'nạp 100k, làm sao vậy?'
    """
    text = nfc(text)
    if not text:
        return ""
    return _rewrite(text, lower=False, expand=True)


def normalize(text: str, *, expand: bool = True) -> str:
    """Normalise a message for matching: the shared NLU/retrieval pipeline.

    NFC -> traditional tone marks -> lower case -> abbreviations -> single
    spaces (trimmed). URLs and e-mails are kept exactly as typed.

    Args:
        text: A message (any Unicode form).
        expand: Set False to skip abbreviation expansion (the tokenizer
            expands abbreviations itself, with offsets).

    Returns:
        The normalised text ("" for empty input).

    Example:
        >>> normalize("  Tôi  ko đc  kích hoạt TK định danh, Hoà ")
        'tôi không được kích hoạt tài khoản định danh, hòa'
    """
    if not text:
        return ""
    text = normalize_tone_marks(text)
    text = _rewrite(text, lower=True, expand=expand)
    return _WS_RE.sub(" ", text).strip()


def fold(text: str) -> str:
    """:func:`normalize` then strip diacritics, for accent-insensitive matching.

    Args:
        text: A message (any Unicode form).

    Returns:
        Normalised text without diacritics.

    Example:
        >>> fold("Đăng kí tk VNeID ntn?")
        'dang ky tai khoan vneid nhu the nao?'
        >>> fold("dang ki tai khoan dinh danh")
        'dang ky tai khoan dinh danh'
    """
    return strip_accents(normalize(text))
