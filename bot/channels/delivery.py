"""Delivering replies on platforms with limits: dedupe of webhook events, text split at sentence ends,
numbered choices when buttons do not fit, and the fingerprint of a text for logs.
"""

import hashlib
import logging
import re
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any


from bot.channels.config import DEFAULT_DEDUP_CAPACITY
from bot.channels.messages import NON_TEXT_REPLY, NUMBERED_CHOICE_HINT  # noqa: F401 - webhook.py imports them here

logger = logging.getLogger(__name__)


class LRUSet:
    """A bounded set that forgets the least recently added keys first."""

    def __init__(self, capacity: int = DEFAULT_DEDUP_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._items: OrderedDict[Hashable, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def seen(self, key: Hashable) -> bool:
        """Returns True if ``key`` was seen before; otherwise records it."""
        if key in self._items:
            self._items.move_to_end(key)
            return True
        self._items[key] = None
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return False

    def discard(self, key: Hashable) -> None:
        self._items.pop(key, None)


# Positions right after a sentence end (., !, ?, …, optionally followed by a
# closing quote/bracket) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)")


def _best_cut(window: str, minimum: int) -> int:
    """Finds where to cut ``window`` (a prefix of the remaining text).

    Preference: paragraph break, line break, sentence end, whitespace. A cut
    point is only used if it keeps at least ``minimum`` characters in the chunk,
    so we do not produce tiny fragments. Falls back to a hard cut.
    """
    limit = len(window)
    candidates = []

    idx = window.rfind("\n\n")
    candidates.append(idx)
    idx = window.rfind("\n")
    candidates.append(idx)
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window)]
    candidates.append(sentence_ends[-1] if sentence_ends else -1)
    idx = max(window.rfind(" "), window.rfind("\t"))
    candidates.append(idx)

    for cut in candidates:
        if cut >= minimum:
            return cut
    return limit


def split_text(text: str, limit: int) -> list[str]:
    """Splits ``text`` into chunks of at most ``limit`` characters.

    Cuts preferably at paragraph/line boundaries, then at sentence ends, then at
    whitespace. Chunks are stripped; empty chunks are dropped.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    text = (text or "").strip()
    if not text:
        return []
    chunks: list[str] = []
    remaining = text
    while len(remaining) > limit:
        window = remaining[:limit]
        # When the next char is whitespace, the full window is a clean cut.
        if remaining[limit].isspace():
            cut = limit
        else:
            cut = _best_cut(window, minimum=max(1, limit // 2))
        chunk = remaining[:cut].strip()
        if chunk:
            chunks.append(chunk)
        remaining = remaining[cut:].lstrip()
    if remaining.strip():
        chunks.append(remaining.strip())
    return chunks


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    """Shortens ``text`` to ``limit`` characters, at a word boundary if possible."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[:limit]
    room = limit - len(ellipsis)
    head = text[:room]
    space = head.rfind(" ")
    if space >= room // 2:
        head = head[:space]
    return head.rstrip(" ,.;:-") + ellipsis


def button_payload(button: Mapping[str, Any]) -> str:
    """The text that should reach Rasa when ``button`` is chosen."""
    payload = button.get("payload")
    if payload is None or payload == "":
        payload = button.get("title", "")
    return str(payload)


def button_url(button: Mapping[str, Any]) -> str | None:
    """The URL of a link button (``type: web_url`` / ``url`` key), else None."""
    url = button.get("url")
    if url:
        return str(url)
    if button.get("type") == "web_url" and button.get("payload"):
        return str(button["payload"])
    return None


def numbered_list(text: str, buttons: list[Mapping[str, Any]]) -> str:
    """Renders ``buttons`` as a numbered text list below ``text``."""
    lines = []
    if text and text.strip():
        lines.append(text.strip())
        lines.append("")
    lines.append(NUMBERED_CHOICE_HINT)
    for idx, button in enumerate(buttons, start=1):
        title = " ".join(str(button.get("title") or button_payload(button)).split())
        url = button_url(button)
        lines.append(f"{idx}. {title}" + (f": {url}" if url else ""))
    return "\n".join(lines)


class ChoiceMemory:
    """Remembers the options of the last numbered list sent to each user.

    When the platform cannot show buttons, options are sent as a numbered list;
    if the user then answers "2", the input channel maps it back to the payload
    of the second option. Bounded (LRU) so it cannot grow without limit.
    """

    def __init__(self, capacity: int = DEFAULT_DEDUP_CAPACITY) -> None:
        self.capacity = capacity
        self._choices: OrderedDict[str, list[str | None]] = OrderedDict()

    def remember(self, recipient_id: str, buttons: list[Mapping[str, Any]]) -> None:
        payloads: list[str | None] = [None if button_url(b) else button_payload(b) for b in buttons]
        self._choices[str(recipient_id)] = payloads
        self._choices.move_to_end(str(recipient_id))
        while len(self._choices) > self.capacity:
            self._choices.popitem(last=False)

    def forget(self, recipient_id: str) -> None:
        self._choices.pop(str(recipient_id), None)

    def resolve(self, recipient_id: str, text: str | None) -> str | None:
        """Returns the payload for a numeric answer, else None (nothing consumed)."""
        if not text:
            return None
        answer = text.strip().rstrip(".")
        if not answer.isdigit():
            return None
        payloads = self._choices.get(str(recipient_id))
        if not payloads:
            return None
        index = int(answer) - 1
        if 0 <= index < len(payloads) and payloads[index]:
            self._choices.pop(str(recipient_id), None)
            return payloads[index]
        return None


def text_digest(text: str | None) -> str:
    """A short fingerprint of ``text`` for dedupe keys and logs (never the text itself)."""
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]
