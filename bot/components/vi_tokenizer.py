"""Vietnamese word-segmenting tokenizer for Rasa 3.6.

Use in ``config.yml``::

    pipeline:
      - name: bot.components.vi_tokenizer.VietnameseTokenizer

What it does for each message:

1. Work on an NFC copy of the text (tone marks in the traditional position,
   see :mod:`core.text.normalize`), keeping a character map back to the
   original string when NFC changed its length (NFD input).
2. Segment the copy into words with ``underthesea.word_tokenize``
   ("kích hoạt", "định danh" become one word each) and locate every word
   in the copy sequentially, so each token gets ``start``/``end`` offsets
   into the ORIGINAL message text.
3. Abbreviations / teencode from ``core/text/abbreviations.yml`` become one
   token each ("tk" -> "tài_khoản", "vn eid" -> "vneid"); "100k" is left
   alone.
4. Token text is normalised (NFC, tone marks, lower case, abbreviations
   expanded) with spaces replaced by "_" ("định_danh"), because
   CountVectorsFeaturizer splits token text on spaces again.
5. Tokens with no letter or digit (punctuation, emoji) are dropped. Any
   letters or digits the segmenter did not cover get simple tokens, so a
   message with letters never ends up without tokens; a message made only
   of emoji/punctuation gets one token for the whole (stripped) text, like
   Rasa's WhitespaceTokenizer.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from core.text.normalize import (
    URL_RE,
    find_abbreviations,
    normalize,
    normalize_tone_marks,
)

logger = logging.getLogger(__name__)

# Only the first SEGMENTER_MAX_CHARS characters go through underthesea; the
# rest is tokenised by the simple regex below. Citizens' chat messages are
# well under 500 characters, and underthesea's CRF takes about 25 ms for
# 2,000 characters (about 0.2 s for 10,000), so 2,000 keeps every real
# message fully segmented while a pasted document or abuse cannot stall the
# NLU server.
SEGMENTER_MAX_CHARS = 2000
# How far back from the cut point we look for a space so no word is split.
_CUT_LOOKBACK = 100

# Fallback tokens: a URL/e-mail, or a run of letters/digits that may contain
# single inner separators ("10,000", "3.5", "e-mail", "H'Mông").
_SIMPLE_TOKEN_RE = re.compile(rf"{URL_RE.pattern}|\w+(?:[.,'’-]\w+)*", re.IGNORECASE | re.VERBOSE)

_Span = tuple[int, int, str | None]  # start, end, forced token text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER], is_trainable=False)
class VietnameseTokenizer(Tokenizer):
    """Segments Vietnamese with underthesea; offsets point into the original text."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the component's default config."""
        return {
            # Flag to check whether to split intents
            "intent_tokenization_flag": False,
            # Symbol on which intent should be split
            "intent_split_symbol": "_",
            # Regular expression to detect tokens
            "token_pattern": None,
            # Symbol on which prefix should be split
            "prefix_separator_symbol": None,
            # Characters given to underthesea (see SEGMENTER_MAX_CHARS)
            "segmenter_max_chars": SEGMENTER_MAX_CHARS,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        """Initialises the tokenizer."""
        super().__init__(config)
        self._max_chars = int(config.get("segmenter_max_chars") or SEGMENTER_MAX_CHARS)

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> VietnameseTokenizer:
        """Creates a new component (see parent class for full docstring)."""
        return cls(config)

    @staticmethod
    def required_packages() -> list[str]:
        """Any extra python dependencies required for this component to run."""
        return ["underthesea"]

    # ------------------------------------------------------------------ API

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Tokenizes the text of the provided attribute of the incoming message."""
        text = message.get(attribute)
        return self._apply_token_pattern(self.tokenize_text(text or ""))

    def tokenize_text(self, text: str) -> list[Token]:
        """Tokenizes a plain string (offsets into ``text``)."""
        if not text or text.isspace():
            return []

        nfc_text, index_map = _nfc_with_map(text)
        work = normalize_tone_marks(nfc_text)
        if len(work) != len(nfc_text):  # cannot happen for NFC input; be safe
            work = nfc_text

        spans = self._segment(work)
        spans = _apply_abbreviations(spans, find_abbreviations(work))
        spans = _fill_gaps(spans, work)

        tokens = []
        for start, end, forced in spans:
            surface = work[start:end]
            if not any(ch.isalnum() for ch in surface):
                continue  # punctuation, emoji
            tokens.append(self._make_token(surface, start, end, forced, index_map))

        if not tokens:
            # Only emoji/punctuation ("👍", "???"): keep one token so the
            # featurizers still see something, as WhitespaceTokenizer does.
            stripped = work.strip()
            start = work.index(stripped)
            tokens.append(self._make_token(stripped, start, start + len(stripped), None, index_map))
        return tokens

    # ------------------------------------------------------------ internals

    @staticmethod
    def _make_token(
        surface: str,
        start: int,
        end: int,
        forced: str | None,
        index_map: tuple[list[int], list[int]] | None,
    ) -> Token:
        if forced is not None:
            token_text = forced
        elif URL_RE.fullmatch(surface):
            token_text = surface  # URLs/e-mails exactly as typed
        else:
            token_text = normalize(surface, expand=False)
        token_text = token_text.replace(" ", "_")
        if index_map is not None:
            starts, ends = index_map
            start, end = starts[start], ends[end - 1]
        return Token(token_text, start, end)

    def _segment(self, work: str) -> list[tuple[int, int]]:
        """Word spans (start, end) in ``work`` from underthesea."""
        head_end = len(work)
        if head_end > self._max_chars:
            head_end = self._max_chars
            floor = max(0, head_end - _CUT_LOOKBACK)
            cut = head_end
            while cut > floor and not work[cut - 1].isspace():
                cut -= 1
            if cut > floor:
                head_end = cut
            logger.debug(
                "Message of %d characters: segmenting the first %d only.",
                len(work),
                head_end,
            )
        # underthesea maps ð/Ð to đ/Đ (same length); do it here so the words
        # it returns can be found in the text.
        head = work[:head_end].replace("ð", "đ").replace("Ð", "Đ")
        if not head.strip():
            return []
        try:
            from underthesea import word_tokenize

            words = word_tokenize(head, use_token_normalize=False)
        except Exception:  # pragma: no cover - segmenter failure must not kill NLU
            logger.exception("underthesea failed; falling back to simple tokens.")
            return []
        return _align(words, head)


def _nfc_with_map(
    text: str,
) -> tuple[str, tuple[list[int], list[int]] | None]:
    """NFC ``text``; if that changes it, also map each NFC char to original [start, end)."""
    if unicodedata.is_normalized("NFC", text):
        return text, None
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        chunk = unicodedata.normalize("NFC", text[i:j])
        pieces.append(chunk)
        starts.extend([i] * len(chunk))
        ends.extend([j] * len(chunk))
        i = j
    return "".join(pieces), (starts, ends)


def _align(words: list[str], head: str) -> list[tuple[int, int]]:
    """Locate segmented words sequentially in ``head``.

    underthesea joins the syllables of a word with one space whatever the
    original spacing was ("kích  hoạt" or "100k" -> "100", "k"), so each
    syllable is searched for separately. On the first word that cannot be
    found we stop; the rest of the text is covered by :func:`_fill_gaps`.
    """
    spans: list[tuple[int, int]] = []
    cursor = 0
    for word in words:
        start = None
        for piece in word.split(" "):
            if not piece:
                continue
            pos = head.find(piece, cursor)
            if pos < 0:
                logger.debug("Could not align %r; using simple tokens after it.", word)
                return spans
            if start is None:
                start = pos
            cursor = pos + len(piece)
        if start is not None:
            spans.append((start, cursor))
    return spans


def _apply_abbreviations(words: list[tuple[int, int]], abbreviations: list[tuple[int, int, str]]) -> list[_Span]:
    """Make every abbreviation one token, cutting it out of the words it overlaps."""
    result: list[_Span] = [(s, e, expansion) for s, e, expansion in abbreviations]
    first = 0
    for start, end in words:
        while first < len(abbreviations) and abbreviations[first][1] <= start:
            first += 1
        cursor = start
        index = first
        while index < len(abbreviations) and abbreviations[index][0] < end:
            a_start, a_end, _ = abbreviations[index]
            if a_start > cursor:
                result.append((cursor, a_start, None))
            cursor = max(cursor, a_end)
            index += 1
        if cursor < end:
            result.append((cursor, end, None))
    result.sort(key=lambda span: (span[0], span[1]))
    return result


def _fill_gaps(spans: list[_Span], work: str) -> list[_Span]:
    """Trim spans and add simple tokens for any text no span covers."""
    filled: list[_Span] = []
    covered = 0
    for start, end, forced in spans:
        while start < end and work[start].isspace():
            start += 1
        while end > start and work[end - 1].isspace():
            end -= 1
        if start < covered and forced is None:
            start = covered  # never happens with sequential spans; be safe
        if start >= end or start < covered:
            continue
        if start > covered:
            filled.extend(_simple_spans(work, covered, start))
        filled.append((start, end, forced))
        covered = end
    if covered < len(work):
        filled.extend(_simple_spans(work, covered, len(work)))
    return _merge_glued(filled, work)


def _merge_glued(spans: list[_Span], work: str) -> list[_Span]:
    """Re-join pieces the segmenter split without a space between them.

    underthesea splits "100k" into "100" + "k" and "lv2" into "lv" + "2";
    as tokens they read better whole, as a whitespace tokenizer would keep
    them. Abbreviation tokens are never glued to letters or digits.
    """
    merged: list[_Span] = []
    for start, end, forced in spans:
        if merged:
            p_start, p_end, p_forced = merged[-1]
            if (
                forced is None
                and p_forced is None
                and p_end == start
                and work[p_end - 1].isalnum()
                and work[start].isalnum()
            ):
                merged[-1] = (p_start, end, None)
                continue
        merged.append((start, end, forced))
    return merged


def _simple_spans(work: str, start: int, end: int) -> list[_Span]:
    return [(m.start(), m.end(), None) for m in _SIMPLE_TOKEN_RE.finditer(work, start, end)]
