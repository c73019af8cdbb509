"""Tone marks in the traditional position ("hòa", "khỏe", "thủy"; "hoàng", "huỳnh" with a final consonant).

Part of the text normalisation (core/text/normalize.py); standard library only, one regex per text.
"""

from __future__ import annotations

import re
import unicodedata

from core.text.unicode import nfc


# grave, acute, tilde, hook above, dot below
_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def _build_tone_tables() -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], str]]:
    split: dict[str, tuple[str, str]] = {}
    join: dict[tuple[str, str], str] = {}
    ranges = (range(0x00C0, 0x0250), range(0x1E00, 0x1F00))
    for block in ranges:
        for code in block:
            ch = chr(code)
            decomposed = unicodedata.normalize("NFD", ch)
            tones = [c for c in decomposed if c in _TONE_MARKS]
            if len(tones) != 1:
                continue
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
            if len(base) != 1:
                continue
            split[ch] = (base, tones[0])
            join[(base, tones[0])] = ch
    return split, join


_SPLIT_TONE, _JOIN_TONE = _build_tone_tables()

_VOWELS = frozenset("aăâeêioôơuưy")
# Longest first. f/j/w/z are not standard onsets but appear in teencode
# ("zậy", "wá", "j"), and a single vowel gets the same placement anyway.
# fmt: off
_ONSETS = (
    "ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr",
    "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t",
    "v", "x", "f", "j", "w", "z", "",
)
_CODAS = frozenset(("", "c", "ch", "m", "n", "ng", "nh", "p", "t"))
_NUCLEI = frozenset((
    *_VOWELS,
    "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iê", "iu", "oa", "oă",
    "oe", "oi", "ôi", "ơi", "oo", "ua", "uâ", "uê", "ui", "uô", "uơ", "uy", "ưa",
    "ưi", "ươ", "ưu", "yê",
    "iêu", "yêu", "oai", "oay", "oeo", "uây", "uôi", "uya", "uyê", "uyu", "ươi", "ươu",
))
# fmt: on
_LETTER_RUN_RE = re.compile(r"[^\W\d_]+")


def _tone_index(nucleus: str, coda: str) -> int:
    """Index inside ``nucleus`` that carries the tone (traditional rule)."""
    for vowel in "ơê":  # ươ -> ơ, iê/yê/uyê -> ê
        pos = nucleus.find(vowel)
        if pos >= 0:
            return pos
    for vowel in "ăâôư":
        pos = nucleus.find(vowel)
        if pos >= 0:
            return pos
    if len(nucleus) == 1:
        return 0
    if len(nucleus) == 3:  # oai, oay, oeo, uya, uyu -> middle
        return 1
    # Two plain vowels: second one if a final consonant follows ("hoàng",
    # "huỳnh"), otherwise the first one ("hòa", "khỏe", "thủy", "mía").
    return 1 if coda else 0


def _fix_syllable(match: re.Match[str]) -> str:
    word = match.group(0)
    toned = [i for i, ch in enumerate(word) if ch in _SPLIT_TONE]
    if len(toned) != 1:
        return word
    src = toned[0]
    base_chars = list(word)
    tone = _SPLIT_TONE[word[src]][1]
    base_chars[src] = _SPLIT_TONE[word[src]][0]
    base = "".join(base_chars).lower()
    if len(base) != len(word):  # exotic case mapping; leave alone
        return word

    onset = ""
    for candidate in _ONSETS:
        if not base.startswith(candidate):
            continue
        if candidate in ("gi", "qu") and (len(base) == 2 or base[2] not in _VOWELS):
            continue  # "gì", "gìn": the i is the vowel
        onset = candidate
        break
    rest = base[len(onset) :]
    n = 0
    while n < len(rest) and rest[n] in _VOWELS:
        n += 1
    nucleus, coda = rest[:n], rest[n:]
    if nucleus not in _NUCLEI or coda not in _CODAS:
        return word  # not a Vietnamese syllable: leave it alone
    dst = len(onset) + _tone_index(nucleus, coda)
    if dst == src:
        return word
    target = base_chars[dst]
    lower_target = target.lower()
    new_char = _JOIN_TONE.get((lower_target, tone))
    if new_char is None:
        return word
    if target != lower_target:
        new_char = new_char.upper()
    base_chars[dst] = new_char
    return "".join(base_chars)


def normalize_tone_marks(text: str) -> str:
    """Put tone marks in the traditional position in every Vietnamese syllable.

    Only words that parse as a Vietnamese syllable (onset + vowel nucleus +
    final consonant) with exactly one tone mark are touched, so English words,
    codes and URLs pass through. Case is preserved. The result is NFC.

    Args:
        text: Any string (NFC or NFD).

    Returns:
        The text with tone marks moved, e.g. "oà"/"oẻ"/"uý" -> "òa"/"ỏe"/"úy"
        when no final consonant follows.

    Example:
        >>> normalize_tone_marks("Toà án, hoà bình, khoẻ, thuỷ, uỷ ban")
        'Tòa án, hòa bình, khỏe, thủy, ủy ban'
        >>> normalize_tone_marks("quý, hoàng, huỳnh, HOÀ")
        'quý, hoàng, huỳnh, HÒA'
    """
    text = nfc(text)
    if not text or text.isascii():
        return text
    return _LETTER_RUN_RE.sub(_fix_syllable, text)
