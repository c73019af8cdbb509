"""Unicode helpers for Vietnamese text: NFC composition and diacritics removal (standard library only)."""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    """Return ``text`` in Unicode NFC (composed) form.

    Args:
        text: Any string, e.g. typed with a decomposed (NFD) keyboard.

    Returns:
        The NFC string; ASCII and already-NFC text is returned unchanged.

    Example:
        >>> nfc("Đi\u0323nh danh") == "Định danh"
        True
    """
    if not text:
        return ""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def strip_accents(text: str) -> str:
    """Remove all Vietnamese diacritics (tone and vowel marks), đ/Đ -> d/D.

    Args:
        text: Any string (NFC or NFD).

    Returns:
        The text without combining marks, in NFC.

    Example:
        >>> strip_accents("Định danh điện tử")
        'Dinh danh dien tu'
        >>> strip_accents("Hòa, khỏe, thủy")
        'Hoa, khoe, thuy'
    """
    if not text:
        return ""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = stripped.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFC", stripped)
