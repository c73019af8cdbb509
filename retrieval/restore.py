"""Restore missing diacritics in a query from the guides' own vocabulary.

Dense models read "quen mat khau" poorly; "quên mật khẩu" well. Citizens often type without
diacritics, so before embedding a query we put the marks back, using only word sequences that
occur in our guides (titles, sample questions, text). Longer matches win: "mat khau" alone could
be several things, but the guides only ever say "mật khẩu". This measured +0.2-0.3 MRR for
unaccented queries in shared/models/embeddings.md.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from core.text.normalize import normalize, strip_accents

WORD = re.compile(r"\w+", re.UNICODE)
# Longest syllable window we look up; 4 covers "tài khoản định danh" style compounds.
MAX_NGRAM = 4
# A single unaccented syllable is ambiguous ("ma" → mã/mà/má); restore it alone only when one
# accented form covers at least this share of its occurrences in the guides.
SINGLE_SYLLABLE_DOMINANCE = 0.7


class DiacriticRestorer:
    """Learns accented n-grams from texts; restores unaccented runs in queries."""

    def __init__(self, texts: Iterable[str]):
        table: dict[str, Counter] = defaultdict(Counter)
        for text in texts:
            words = WORD.findall(normalize(text))
            for n in range(1, MAX_NGRAM + 1):
                for i in range(len(words) - n + 1):
                    gram = " ".join(words[i : i + n])
                    key = strip_accents(gram)
                    table[key][gram] += 1
        self._table = table

    def _best(self, key: str, n: int) -> str | None:
        forms = self._table.get(key)
        if not forms:
            return None
        form, count = forms.most_common(1)[0]
        if n == 1 and count / sum(forms.values()) < SINGLE_SYLLABLE_DOMINANCE:
            return None
        return form

    def restore(self, query: str) -> str:
        """Return the normalised query with diacritics restored where the guides agree.

        >>> r = DiacriticRestorer(["Quên mật khẩu VNeID"])
        >>> r.restore("quen mat khau vneid")
        'quên mật khẩu vneid'
        """
        words = WORD.findall(normalize(query))
        out: list[str] = []
        i = 0
        while i < len(words):
            replaced = False
            for n in range(min(MAX_NGRAM, len(words) - i), 0, -1):
                window = words[i : i + n]
                # Only unaccented words are candidates; an accented word is the citizen's choice.
                if any(strip_accents(w) != w for w in window):
                    continue
                best = self._best(" ".join(window), n)
                if best is not None:
                    out.extend(best.split(" "))
                    i += n
                    replaced = True
                    break
            if not replaced:
                out.append(words[i])
                i += 1
        return " ".join(out)
